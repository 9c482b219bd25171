//! The benchmark mailbox: N realistic mails (4–20 KB, a third with a PDF attachment, a fifth
//! replies to earlier ones, 2,000 senders at 500 companies), the same in every run. Shared by
//! the ingest and import benchmarks.

/// A small deterministic generator, so every run ingests the same mails.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const TOPICS: &[&str] = &[
    "Cross-connect down in AM11",
    "Remote hands: reseat optic in rack 0412",
    "BGP session flapping on port xe-0/0/3",
    "Panne totale du lien fibre PAR3",
    "Pedido de acesso ao datacenter LIS1",
    "Incidencia: pérdida de paquetes en MAD2",
    "Guasto alimentazione rack MIL4",
    "Storing op verbinding AMS-RTM",
    "Invoice question for October",
    "Shipment arriving Thursday: 2 pallets",
    "Site access registration for contractors",
    "Latency spikes towards DE-CIX",
];
const WORDS: &[&str] = &[
    "the",
    "link",
    "port",
    "rack",
    "optic",
    "traffic",
    "since",
    "yesterday",
    "please",
    "check",
    "we",
    "see",
    "errors",
    "on",
    "interface",
    "customer",
    "circuit",
    "ticket",
    "maintenance",
    "window",
    "urgent",
    "power",
    "feed",
    "cabinet",
    "cage",
    "suite",
    "MMR",
    "patch",
    "panel",
    "light",
    "levels",
    "dBm",
    "BGP",
    "prefix",
];

pub fn words(rng: &mut Rng, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 16);
    let mut col = 0;
    while s.len() < bytes {
        let w = WORDS[rng.below(WORDS.len() as u64) as usize];
        s.push_str(w);
        col += w.len() + 1;
        if col > 70 {
            s.push_str("\r\n");
            col = 0;
        } else {
            s.push(' ');
        }
    }
    s
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in data.chunks(3).enumerate() {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= c.len() {
                out.push(T[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        if i % 19 == 18 {
            out.push_str("\r\n");
        }
    }
    out
}

/// N mails from 2,000 senders at 500 companies; a fifth reply to an earlier mail.
pub fn generate(n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut mails = Vec::with_capacity(n);
    let mut sent: Vec<(String, String, String)> = Vec::new(); // (message-id, from, subject)
    for i in 0..n {
        let size = 4_000 + rng.below(16_000) as usize;
        let (from, subject, threading) = if !sent.is_empty() && rng.below(5) == 0 {
            let (mid, from, subject) = sent[rng.below(sent.len() as u64) as usize].clone();
            (
                from,
                format!("RE: {subject}"),
                format!("In-Reply-To: <{mid}>\r\nReferences: <{mid}>\r\n"),
            )
        } else {
            let company = rng.below(500);
            let person = rng.below(4);
            let from = format!("user{person}@company{company}.example");
            let subject = format!(
                "{} #{}",
                TOPICS[rng.below(TOPICS.len() as u64) as usize],
                rng.below(100_000)
            );
            (from, subject, String::new())
        };
        let mid = format!("bench-{i}-{}@company.example", rng.next() % 1_000_000_007);
        let boundary = format!("b{i}x");
        let text = words(&mut rng, size / 2);
        let mut body =
            format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n");
        if rng.below(3) == 0 {
            let attach: Vec<u8> = (0..size / 2).map(|_| rng.next() as u8).collect();
            body.push_str(&format!(
                "--{boundary}\r\nContent-Type: application/pdf; name=\"report-{i}.pdf\"\r\nContent-Disposition: attachment; filename=\"report-{i}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
                base64(&attach[..attach.len() * 3 / 4])
            ));
        } else {
            body.push_str(&format!("--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{}</p></body></html>\r\n", text.replace("\r\n", "<br>\r\n")));
        }
        body.push_str(&format!("--{boundary}--\r\n"));
        let raw = format!(
            "Return-Path: <{from}>\r\nFrom: {from}\r\nTo: servicedesk.nl@example.net\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 10:{:02}:{:02} +0100\r\nMessage-ID: <{mid}>\r\n{threading}MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n{body}",
            (i / 60) % 60,
            i % 60
        );
        sent.push((mid, from, subject.trim_start_matches("RE: ").to_string()));
        mails.push(raw.into_bytes());
    }
    mails
}
