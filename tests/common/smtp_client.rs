//! A minimal SMTP client that sends one message to a test server (EHLO, MAIL, RCPT, DATA, QUIT).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};

use super::process::LOOPBACK;
use super::TIMEOUT;

/// Send one message to 127.0.0.1:`port` with a hand-written SMTP client
/// (EHLO, MAIL FROM, RCPT TO per recipient, DATA, QUIT). `raw` may use LF or
/// CRLF line ends; it is sent with CRLF and dot-stuffed. Returns the first
/// unexpected reply as `Err("<command> -> <reply>")`.
pub fn smtp_send(port: u16, from: &str, rcpts: &[&str], raw: &[u8]) -> Result<(), String> {
    let mut conn = SmtpConn::connect(port)?;
    let result = (|| {
        conn.expect(None, &["220"])?;
        conn.expect(Some("EHLO harness.test"), &["250"])?;
        conn.expect(Some(&format!("MAIL FROM:<{from}>")), &["250"])?;
        for rcpt in rcpts {
            conn.expect(Some(&format!("RCPT TO:<{rcpt}>")), &["250", "251"])?;
        }
        conn.expect(Some("DATA"), &["354"])?;
        conn.send(&smtp_data(raw))?;
        conn.expect(Some("."), &["250"]).map(|_| ())
    })();
    // Best effort; the server may already have closed the connection.
    let _ = conn.expect(Some("QUIT"), &["221"]);
    result
}

struct SmtpConn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl SmtpConn {
    fn connect(port: u16) -> Result<SmtpConn, String> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), TIMEOUT)
            .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        Ok(SmtpConn {
            reader: BufReader::new(stream),
            writer,
        })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .map_err(|e| format!("SMTP write: {e}"))
    }

    /// Send `cmd` (if any), read the (multi-line) reply, check its code.
    fn expect(&mut self, cmd: Option<&str>, codes: &[&str]) -> Result<String, String> {
        if let Some(cmd) = cmd {
            self.send(format!("{cmd}\r\n").as_bytes())?;
        }
        let what = cmd.unwrap_or("<greeting>");
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| format!("{what}: SMTP read: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "{what} -> connection closed (reply so far {reply:?})"
                ));
            }
            reply.push_str(&line);
            // "250-..." continues, "250 ..." (or a bare "250") ends the reply.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        let reply = reply.trim_end().to_string();
        if codes.iter().any(|code| reply.starts_with(code)) {
            Ok(reply)
        } else {
            Err(format!("{what} -> {reply}"))
        }
    }
}

/// CRLF-normalise and dot-stuff a message for DATA (without the final ".").
fn smtp_data(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut at_line_start = true;
    for (i, &b) in raw.iter().enumerate() {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        if b == b'\n' && (i == 0 || raw[i - 1] != b'\r') {
            out.push(b'\r');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}
