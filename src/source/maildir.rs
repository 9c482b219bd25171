//! A local Maildir as a desk's mailbox: mail is read from `new/` and moved to `cur/` when done.
//!
//! It is the embedded default, so deskgate runs with no mail server at all.

use super::{Origin, RawMail, SourceError};
use std::path::PathBuf;
use std::time::Duration;

pub struct MaildirSource {
    desk: String,
    root: PathBuf,
    poll: Duration,
}

impl MaildirSource {
    /// Opens an existing Maildir, adding the `new`, `cur` and `tmp` folders it lacks (a folder
    /// made with `mkdir -p inbox/new` is a Maildir). A missing folder is refused: it is a typo
    /// or a volume not mounted, and creating it would read as a mailbox with no mail for ever.
    pub fn open(desk: &str, root: PathBuf, poll: Duration) -> Result<MaildirSource, SourceError> {
        if !root.is_dir() {
            return Err(SourceError::Missing {
                desk: desk.to_string(),
                path: root.display().to_string(),
            });
        }
        MaildirSource::create(desk, root, poll)
    }

    /// Opens a Maildir, creating it when missing: for the embedded defaults' own, whose path
    /// nobody typed ([`crate::config::MaildirConfig::create`]).
    pub fn create(desk: &str, root: PathBuf, poll: Duration) -> Result<MaildirSource, SourceError> {
        for sub in ["new", "cur", "tmp"] {
            let p = root.join(sub);
            std::fs::create_dir_all(&p).map_err(|e| SourceError::Io {
                desk: desk.to_string(),
                path: p.display().to_string(),
                message: e.to_string(),
            })?;
        }
        Ok(MaildirSource {
            desk: desk.to_string(),
            root,
            poll,
        })
    }

    pub fn describe(&self) -> String {
        format!("maildir {}", self.root.display())
    }

    pub fn poll_interval(&self) -> Duration {
        self.poll
    }

    /// Up to `limit` mails from `new/`, in file-name order (Maildir names start with the
    /// delivery time).
    pub fn fetch(&mut self, limit: usize) -> Result<Vec<RawMail>, SourceError> {
        let new = self.root.join("new");
        let io = |path: &std::path::Path, e: std::io::Error| SourceError::Io {
            desk: self.desk.clone(),
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut names = mail_names(&new).map_err(|e| io(&new, e))?;
        names.truncate(limit);
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let path = new.join(&name);
            match std::fs::read(&path) {
                Ok(raw) => out.push(RawMail {
                    origin: Origin::Maildir { file: name },
                    raw,
                }),
                // Another process took it between listing and reading: nothing to do.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&path, e)),
            }
        }
        Ok(out)
    }

    /// Moves done mails to `cur/` with the Seen flag (`:2,S`).
    pub fn ack(&mut self, done: &[Origin]) -> Result<(), SourceError> {
        for o in done {
            if let Origin::Maildir { file } = o {
                let from = self.root.join("new").join(file);
                let base = file.split(':').next().unwrap_or(file);
                let to = self.root.join("cur").join(format!("{base}:2,S"));
                if let Err(e) = std::fs::rename(&from, &to) {
                    if e.kind() != std::io::ErrorKind::NotFound {
                        return Err(SourceError::Io {
                            desk: self.desk.clone(),
                            path: from.display().to_string(),
                            message: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// The mail files of one Maildir folder (`new/` or `cur/`), in file-name order: Maildir names
/// start with the delivery time. Hidden files are not mail.
pub fn mail_names(dir: &std::path::Path) -> std::io::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maildir_that_does_not_exist_is_refused_not_created() {
        let dir = tempfile::tempdir().expect("tempdir");
        let typo = dir.path().join("inbx-nl");
        let Err(e) = MaildirSource::open("nl", typo.clone(), Duration::from_secs(1)) else {
            panic!("a missing Maildir was opened");
        };
        assert_eq!(
            e.to_string(),
            format!("desk nl: maildir {} does not exist", typo.display())
        );
        assert!(!typo.exists(), "it was created");
    }

    #[test]
    fn a_maildir_with_new_only_gets_its_cur_and_tmp() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("new")).expect("mkdir");
        MaildirSource::open("nl", dir.path().to_path_buf(), Duration::from_secs(1)).expect("open");
        assert!(dir.path().join("cur").is_dir() && dir.path().join("tmp").is_dir());
    }

    #[test]
    fn mails_move_from_new_to_cur_when_acknowledged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = MaildirSource::open("nl", dir.path().to_path_buf(), Duration::from_secs(1))
            .expect("open");
        std::fs::write(dir.path().join("new/1.a"), b"Subject: a\r\n\r\nx").expect("write");
        std::fs::write(dir.path().join("new/2.b"), b"Subject: b\r\n\r\ny").expect("write");
        let got = s.fetch(10).expect("fetch");
        assert_eq!(got.len(), 2);
        s.ack(&[got[0].origin.clone()]).expect("ack");
        assert!(dir.path().join("cur/1.a:2,S").exists());
        let left = s.fetch(10).expect("fetch");
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].origin, Origin::Maildir { file: "2.b".into() });
    }
}
