//! A minimal blocking IMAP client (std `TcpStream`, a timeout on every read and write) to feed
//! and inspect the test servers: LOGIN, any command, APPEND (MULTIAPPEND when offered), CREATE.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

use super::process::LOOPBACK;
use super::TIMEOUT;

/// A minimal blocking IMAP client for feeding/inspecting test servers.
/// Not a general-purpose client: no parsing beyond what the harness needs.
pub struct ImapClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    tag: u32,
    /// Capabilities seen so far (greeting, LOGIN reply), upper-case.
    capabilities: String,
}

impl ImapClient {
    /// Connect to 127.0.0.1:`port` and read the `* OK` greeting.
    pub fn connect(port: u16) -> Result<ImapClient, String> {
        let stream = TcpStream::connect_timeout(&SocketAddr::from((LOOPBACK, port)), TIMEOUT)
            .map_err(|e| format!("connect 127.0.0.1:{port}: {e}"))?;
        stream
            .set_read_timeout(Some(TIMEOUT))
            .and_then(|_| stream.set_write_timeout(Some(TIMEOUT)))
            .and_then(|_| stream.set_nodelay(true))
            .map_err(|e| e.to_string())?;
        let writer = stream.try_clone().map_err(|e| e.to_string())?;
        let mut client = ImapClient {
            reader: BufReader::new(stream),
            writer,
            tag: 0,
            capabilities: String::new(),
        };
        let greeting = client.read_line()?;
        if !greeting.starts_with("* OK") {
            return Err(format!("unexpected greeting {greeting:?}"));
        }
        client.note_capabilities(&greeting);
        Ok(client)
    }

    /// LOGIN (password is kept out of error messages).
    pub fn login(&mut self, user: &str, password: &str) -> Result<(), String> {
        let cmd = format!("LOGIN {} {}", quote(user), quote(password));
        let (untagged, tagged) = self.command_quiet(&cmd)?;
        for line in untagged.iter().chain([&tagged]) {
            self.note_capabilities(line);
        }
        if ok_status(&tagged) {
            Ok(())
        } else {
            Err(format!("LOGIN as {user:?} rejected: {tagged}"))
        }
    }

    /// Send one command; return `(untagged lines, tagged line)` if the
    /// tagged status is OK, else an error with the server's reply.
    pub fn command(&mut self, cmd: &str) -> Result<(Vec<String>, String), String> {
        let (untagged, tagged) = self.command_quiet(cmd)?;
        if ok_status(&tagged) {
            Ok((untagged, tagged))
        } else {
            Err(format!("{cmd} -> {tagged}"))
        }
    }

    /// APPEND one message; CREATEs the mailbox and retries on `[TRYCREATE]`.
    /// Returns the APPENDUID or 0.
    pub fn append(&mut self, mailbox: &str, raw: &[u8]) -> Result<u32, String> {
        Ok(self.append_batch(mailbox, &[raw])?[0])
    }

    /// APPEND several messages with ONE command (MULTIAPPEND, RFC 3502) if
    /// the server supports it, else one by one; CREATEs the mailbox and
    /// retries on `[TRYCREATE]`. Returns the APPENDUIDs (0s if unknown).
    pub fn append_batch(&mut self, mailbox: &str, mails: &[&[u8]]) -> Result<Vec<u32>, String> {
        if mails.is_empty() {
            return Ok(Vec::new());
        }
        if mails.len() > 1 && !self.has_capability("MULTIAPPEND") {
            return mails.iter().map(|raw| self.append(mailbox, raw)).collect();
        }
        match self.append_once(mailbox, mails) {
            Err(e) if e.contains("[TRYCREATE]") => {
                self.create(mailbox)?;
                self.append_once(mailbox, mails)
            }
            other => other,
        }
    }

    /// CREATE, accepting "already exists".
    pub fn create(&mut self, mailbox: &str) -> Result<(), String> {
        match self.command(&format!("CREATE {}", quote(mailbox))) {
            Err(e) if e.contains("[ALREADYEXISTS]") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// LOGOUT, ignoring errors (the server may close first).
    pub fn logout(mut self) {
        let _ = self.command_quiet("LOGOUT");
    }

    fn has_capability(&self, name: &str) -> bool {
        self.capabilities.split_whitespace().any(|c| c == name)
    }

    fn note_capabilities(&mut self, line: &str) {
        let upper = line.to_ascii_uppercase();
        if let Some((_, rest)) = upper.split_once("CAPABILITY ") {
            let caps = rest.split(']').next().unwrap_or(rest);
            self.capabilities.push(' ');
            self.capabilities.push_str(caps);
        }
    }

    /// One APPEND command carrying all `mails` as literals.
    fn append_once(&mut self, mailbox: &str, mails: &[&[u8]]) -> Result<Vec<u32>, String> {
        let tag = self.next_tag();
        let literal_plus = self.has_capability("LITERAL+");
        let plus = if literal_plus { "+" } else { "" };
        let mut buf = format!("{tag} APPEND {}", quote(mailbox)).into_bytes();
        for raw in mails {
            buf.extend_from_slice(format!(" {{{}{plus}}}\r\n", raw.len()).as_bytes());
            if !literal_plus {
                // Synchronising literal: wait for the "+" continuation.
                self.write(&buf)?;
                buf.clear();
                let line = self.read_line()?;
                if !line.starts_with('+') {
                    return Err(format!("APPEND to {mailbox} -> {line}"));
                }
            }
            buf.extend_from_slice(raw);
        }
        buf.extend_from_slice(b"\r\n");
        self.write(&buf)?;
        let (_, tagged) = self.read_until_tagged(&tag)?;
        if !ok_status(&tagged) {
            return Err(format!("APPEND to {mailbox} -> {tagged}"));
        }
        // "[APPENDUID <uidvalidity> <uid-set>]", e.g. "[APPENDUID 17 901:1000]"
        let uids = tagged
            .split_once("[APPENDUID ")
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .map(|set| expand_uid_set(set.trim_end_matches(']')))
            .unwrap_or_default();
        Ok(if uids.len() == mails.len() {
            uids
        } else {
            vec![0; mails.len()]
        })
    }

    fn command_quiet(&mut self, cmd: &str) -> Result<(Vec<String>, String), String> {
        let tag = self.next_tag();
        self.write(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.read_until_tagged(&tag)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("h{}", self.tag)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.writer
            .write_all(bytes)
            .map_err(|e| format!("IMAP write: {e}"))
    }

    fn read_until_tagged(&mut self, tag: &str) -> Result<(Vec<String>, String), String> {
        let mut untagged = Vec::new();
        let prefix = format!("{tag} ");
        loop {
            let line = self.read_line()?;
            if let Some(rest) = line.strip_prefix(&prefix) {
                return Ok((untagged, rest.to_string()));
            }
            untagged.push(line);
        }
    }

    /// One response line without CRLF; a trailing `{n}` literal is read and
    /// inlined (lossy UTF-8) together with the rest of the line.
    fn read_line(&mut self) -> Result<String, String> {
        let mut line = String::new();
        loop {
            let mut buf = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| format!("IMAP read: {e}"))?;
            if n == 0 {
                return Err(format!(
                    "IMAP: connection closed by server (after {line:?})"
                ));
            }
            let part = String::from_utf8_lossy(&buf);
            let part = part.trim_end_matches(['\r', '\n']);
            line.push_str(part);
            let literal = part
                .strip_suffix('}')
                .and_then(|p| p.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            match literal {
                Some(len) => {
                    let mut data = vec![0; len];
                    self.reader
                        .read_exact(&mut data)
                        .map_err(|e| format!("IMAP read literal: {e}"))?;
                    line.push_str(&String::from_utf8_lossy(&data));
                }
                None => return Ok(line),
            }
        }
    }
}

fn ok_status(tagged: &str) -> bool {
    tagged.starts_with("OK")
}

/// "1,3:5" -> [1, 3, 4, 5]; unparsable parts are skipped.
fn expand_uid_set(set: &str) -> Vec<u32> {
    let mut uids = Vec::new();
    for part in set.split(',') {
        match part.split_once(':') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) {
                    uids.extend(a.min(b)..=a.max(b));
                }
            }
            None => uids.extend(part.parse::<u32>().ok()),
        }
    }
    uids
}

/// IMAP quoted string.
pub(super) fn quote(s: &str) -> String {
    assert!(
        !s.contains(['\r', '\n', '\0']) && s.is_ascii(),
        "IMAP quote: unsupported string {s:?}"
    );
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}
