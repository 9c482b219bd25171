//! STUB — being written by the IMAP helper; replace wholesale.
use super::{Origin, Position, RawMail, SourceError, Woken};
use crate::config::ImapConfig;

pub struct ImapSource {
    desk: String,
    cfg: ImapConfig,
}

impl ImapSource {
    pub fn new(desk: &str, cfg: ImapConfig) -> ImapSource {
        ImapSource { desk: desk.to_string(), cfg }
    }
    pub fn describe(&self) -> String {
        format!("{} {}", self.desk, self.cfg.url)
    }
    pub async fn fetch(&mut self, _p: Option<Position>, _l: usize) -> Result<Vec<RawMail>, SourceError> {
        Err(SourceError::Protocol { desk: self.desk.clone(), message: "stub".into() })
    }
    pub async fn ack(&mut self, _d: &[Origin]) -> Result<(), SourceError> {
        Ok(())
    }
    pub async fn wait(&mut self, _s: &mut tokio::sync::watch::Receiver<bool>) -> Result<Woken, SourceError> {
        Ok(Woken::Shutdown)
    }
    pub async fn reset(&mut self) {}
}
