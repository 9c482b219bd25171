//! A desk's history on disk, as mail programs export it: read for `deskgate import`, never
//! changed.
//!
//! The forms, told apart by what is at the path:
//! - a file whose first line is a `From ` envelope: an mbox (mboxrd or mboxo; Thunderbird's
//!   folders; read by [`super::mbox`]); any other file is one mail (an `.eml`);
//! - a folder with `cur/` or `new/`: a Maildir, both read (their names start with the delivery
//!   time, so the two are merged in name order), nothing moved;
//! - a folder holding a file named `mbox` (Apple Mail's `Name.mbox/` export): that mbox;
//! - any other folder: its `.eml` files, in name order.
//!
//! Mails are handed out one at a time, in the order of the file (or of the names), with how
//! many bytes of the whole have been read, for a progress display. A file that cannot be read
//! is an error for that mail only; the reading goes on with the next.

use super::mbox::{is_mbox, MboxReader};
use super::{Origin, RawMail};
use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// What the history is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    Mbox(PathBuf),
    Maildir(PathBuf),
    Eml(Vec<PathBuf>),
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: neither an mbox file, a Maildir (cur/, new/) nor a folder of .eml files")]
    Unknown { path: String },
}

fn io_error(path: &Path, e: std::io::Error) -> HistoryError {
    HistoryError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A desk's history, ready to be read.
pub struct History {
    form: Form,
    /// The files' bytes in all, for progress.
    total_bytes: u64,
    mails: Box<dyn Iterator<Item = Result<RawMail, HistoryError>> + Send>,
    read_bytes: u64,
}

impl History {
    /// Looks at `path` and opens the history there.
    pub fn open(path: &Path) -> Result<History, HistoryError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, e))?;
        let form = if meta.is_file() {
            let mut start = [0u8; 5];
            let n = File::open(path)
                .and_then(|mut f| f.read(&mut start))
                .map_err(|e| io_error(path, e))?;
            if is_mbox(&start[..n]) {
                Form::Mbox(path.to_path_buf())
            } else {
                Form::Eml(vec![path.to_path_buf()])
            }
        } else if path.join("cur").is_dir() || path.join("new").is_dir() {
            Form::Maildir(path.to_path_buf())
        } else if path.join("mbox").is_file() {
            Form::Mbox(path.join("mbox"))
        } else {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| io_error(path, e))?
                .flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("eml"))
                })
                .collect();
            if files.is_empty() {
                return Err(HistoryError::Unknown {
                    path: path.display().to_string(),
                });
            }
            files.sort();
            Form::Eml(files)
        };
        History::of(form)
    }

    fn of(form: Form) -> Result<History, HistoryError> {
        let (total_bytes, mails): (u64, Box<dyn Iterator<Item = _> + Send>) = match &form {
            Form::Mbox(path) => {
                let file = File::open(path).map_err(|e| io_error(path, e))?;
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                let shown = path.display().to_string();
                let reader = MboxReader::new(BufReader::with_capacity(1 << 20, file));
                let mails = reader.enumerate().map(move |(i, mail)| match mail {
                    Ok(raw) => Ok(RawMail {
                        origin: Origin::History {
                            path: shown.clone(),
                            number: Some(i + 1),
                        },
                        raw,
                    }),
                    Err(e) => Err(HistoryError::Io {
                        path: shown.clone(),
                        message: e.to_string(),
                    }),
                });
                (size, Box::new(mails))
            }
            Form::Maildir(root) => {
                let mut files = Vec::new();
                for sub in ["cur", "new"] {
                    let dir = root.join(sub);
                    if dir.is_dir() {
                        let names =
                            super::maildir::mail_names(&dir).map_err(|e| io_error(&dir, e))?;
                        files.extend(names.into_iter().map(|n| (n, dir.clone())));
                    }
                }
                files.sort();
                let files: Vec<PathBuf> = files.into_iter().map(|(n, d)| d.join(n)).collect();
                files_of(files)
            }
            Form::Eml(files) => files_of(files.clone()),
        };
        Ok(History {
            form,
            total_bytes,
            mails,
            read_bytes: 0,
        })
    }

    pub fn form(&self) -> &Form {
        &self.form
    }

    /// What the history is, for the log.
    pub fn describe(&self) -> String {
        match &self.form {
            Form::Mbox(p) => format!("mbox {}", p.display()),
            Form::Maildir(p) => format!("maildir {}", p.display()),
            Form::Eml(files) => format!("{} .eml files", files.len()),
        }
    }

    /// The bytes of the whole history, and how many of them were read so far.
    pub fn progress(&self) -> (u64, u64) {
        (self.read_bytes.min(self.total_bytes), self.total_bytes)
    }

    /// The next mail (or why it could not be read), with [`History::progress`] after it.
    pub fn next_with_progress(&mut self) -> Option<(Result<RawMail, HistoryError>, (u64, u64))> {
        let next = self.mails.next()?;
        if let Ok(mail) = &next {
            self.read_bytes += mail.raw.len() as u64;
        }
        Some((next, self.progress()))
    }
}

impl Iterator for History {
    type Item = Result<RawMail, HistoryError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_with_progress().map(|(mail, _)| mail)
    }
}

/// The mails of single files, each read when its turn comes.
fn files_of(
    files: Vec<PathBuf>,
) -> (
    u64,
    Box<dyn Iterator<Item = Result<RawMail, HistoryError>> + Send>,
) {
    let total = files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let mails = files.into_iter().map(|path| match std::fs::read(&path) {
        Ok(raw) => Ok(RawMail {
            origin: Origin::History {
                path: path.display().to_string(),
                number: None,
            },
            raw,
        }),
        Err(e) => Err(io_error(&path, e)),
    });
    (total, Box::new(mails))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subjects(h: History) -> Vec<String> {
        h.map(|m| {
            let raw = m.expect("mail").raw;
            String::from_utf8_lossy(&raw)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .collect()
    }

    #[test]
    fn each_form_is_recognised_and_read_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mbox = dir.path().join("desk.mbox");
        std::fs::write(&mbox, b"From a Mon Nov 23 08:00:00 2026\nSubject: 1\n\nx\n\nFrom a Mon Nov 23 09:00:00 2026\nSubject: 2\n\ny\n").expect("write");
        let h = History::open(&mbox).expect("open");
        assert_eq!(h.form(), &Form::Mbox(mbox.clone()));
        assert_eq!(subjects(h), ["Subject: 1", "Subject: 2"]);

        let maildir = dir.path().join("Maildir");
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(maildir.join(sub)).expect("mkdir");
        }
        std::fs::write(maildir.join("new/1700000002.b"), b"Subject: 2\n\ny\n").expect("write");
        std::fs::write(maildir.join("cur/1700000001.a:2,S"), b"Subject: 1\n\nx\n").expect("write");
        std::fs::write(
            maildir.join("tmp/1700000000.c"),
            b"Subject: 0\n\nunfinished\n",
        )
        .expect("write");
        let h = History::open(&maildir).expect("open");
        assert!(matches!(h.form(), Form::Maildir(_)));
        assert_eq!(subjects(h), ["Subject: 1", "Subject: 2"]);

        let emls = dir.path().join("emls");
        std::fs::create_dir_all(&emls).expect("mkdir");
        std::fs::write(emls.join("b.eml"), b"Subject: 2\n\ny\n").expect("write");
        std::fs::write(emls.join("a.EML"), b"Subject: 1\n\nx\n").expect("write");
        std::fs::write(emls.join("notes.txt"), b"not mail").expect("write");
        assert_eq!(
            subjects(History::open(&emls).expect("open")),
            ["Subject: 1", "Subject: 2"]
        );

        let apple = dir.path().join("Inbox.mbox");
        std::fs::create_dir_all(&apple).expect("mkdir");
        std::fs::copy(&mbox, apple.join("mbox")).expect("copy");
        std::fs::write(apple.join("table_of_contents"), b"\x00\x01").expect("write");
        let h = History::open(&apple).expect("open");
        assert_eq!(h.form(), &Form::Mbox(apple.join("mbox")));

        let empty = dir.path().join("empty");
        std::fs::create_dir_all(&empty).expect("mkdir");
        assert!(matches!(
            History::open(&empty),
            Err(HistoryError::Unknown { .. })
        ));
    }
}
