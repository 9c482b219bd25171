//! The PostgreSQL connection's socket, driven by the thread that makes a call.
//!
//! tokio-postgres splits a connection into a `Client`, whose calls are futures, and a
//! `Connection` future that does the socket's reading and writing. Usually a runtime drives
//! the connection on a thread of its own; then every round trip wakes three threads (the
//! connection's to send, the same again when the answer arrives, the caller's to go on), which on
//! a busy machine of two cores cost more than the server's work. Here the caller drives both:
//! [`Driver::block_on`] polls the call and the connection in turn, and when both wait for the
//! socket it waits for the socket itself (mio, in the calling thread). A round trip is then a
//! write, a wait and a read on one thread, wherever it is called from: a std thread, a blocking
//! task or an async task (where it blocks like a sled call does; no runtime is entered, so none
//! can be nested).
//!
//! The socket is non-blocking and reports what it did ([`Blocked`]): bytes moved, or a read or
//! write would have blocked. mio tells of a change of readiness once (edge-triggered), so the
//! driver waits only when nothing else can move: two rounds in a row (the call, then the
//! connection) in which the connection stopped at the socket and no byte moved. One such round
//! is not enough: the connection may have handed the call an answer it held back while the
//! call's channel was full (a long result comes in chunks), and the call, taking it, may queue
//! another request. Waiting one round early cost a whole second (the wait's limit) on scans.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The connection's future, whichever its stream (plain or TLS).
pub(super) type ConnectionFuture =
    Pin<Box<dyn Future<Output = Result<(), tokio_postgres::Error>> + Send>>;

/// How long one wait for the socket lasts before the call and the connection are polled again
/// (a dead peer is noticed by TCP keepalive, not here).
const WAIT: Duration = Duration::from_secs(1);

/// What the socket did since it was last asked: whether bytes moved, and whether a read or a
/// write would have blocked.
#[derive(Default)]
pub(super) struct Blocked {
    read: AtomicBool,
    write: AtomicBool,
    moved: AtomicBool,
}

impl Blocked {
    /// (whether anything would have blocked, whether any byte moved), and forgets both.
    fn take(&self) -> (bool, bool) {
        let read = self.read.swap(false, Ordering::Relaxed);
        let write = self.write.swap(false, Ordering::Relaxed);
        let moved = self.moved.swap(false, Ordering::Relaxed);
        (read || write, moved)
    }
}

/// A connected, non-blocking socket: TCP, or a Unix socket for a server on this machine.
pub(super) enum Plain {
    Tcp(mio::net::TcpStream),
    Unix(mio::net::UnixStream),
}

/// The socket as tokio-postgres sees it.
pub(super) struct Socket {
    plain: Plain,
    blocked: Arc<Blocked>,
}

impl Socket {
    /// Registers the socket with a new poller and wraps it.
    pub(super) fn new(mut plain: Plain) -> std::io::Result<(Socket, Driver)> {
        let poll = mio::Poll::new()?;
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        match &mut plain {
            Plain::Tcp(s) => poll.registry().register(s, mio::Token(0), interest)?,
            Plain::Unix(s) => poll.registry().register(s, mio::Token(0), interest)?,
        }
        let blocked = Arc::new(Blocked::default());
        let driver = Driver {
            connection: None,
            poll,
            events: mio::Events::with_capacity(4),
            blocked: blocked.clone(),
        };
        Ok((Socket { plain, blocked }, driver))
    }

    fn result(&self, r: std::io::Result<usize>, write: bool) -> Poll<std::io::Result<usize>> {
        match r {
            Ok(n) => {
                // A read of 0 bytes is the end of the stream: the connection ends next.
                self.blocked.moved.store(true, Ordering::Relaxed);
                Poll::Ready(Ok(n))
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let flag = if write {
                    &self.blocked.write
                } else {
                    &self.blocked.read
                };
                flag.store(true, Ordering::Relaxed);
                Poll::Pending
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// Retries a socket call interrupted by a signal.
fn again<T>(mut f: impl FnMut() -> std::io::Result<T>) -> std::io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

impl AsyncRead for Socket {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let me = self.get_mut();
        let unfilled = buf.initialize_unfilled();
        let read = match &mut me.plain {
            Plain::Tcp(s) => again(|| s.read(unfilled)),
            Plain::Unix(s) => again(|| s.read(unfilled)),
        };
        me.result(read, false).map_ok(|n| buf.advance(n))
    }
}

impl AsyncWrite for Socket {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let me = self.get_mut();
        let written = match &mut me.plain {
            Plain::Tcp(s) => again(|| s.write(data)),
            Plain::Unix(s) => again(|| s.write(data)),
        };
        me.result(written, true)
    }

    /// Nothing is buffered here: what was written is the kernel's.
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let shut = match &self.plain {
            Plain::Tcp(s) => s.shutdown(std::net::Shutdown::Write),
            Plain::Unix(s) => s.shutdown(std::net::Shutdown::Write),
        };
        Poll::Ready(match shut {
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
            other => other,
        })
    }
}

/// Drives one connection's calls on the calling thread.
pub(super) struct Driver {
    /// `None` before the connection is made, and once it has ended: dropping it closes the
    /// client's channels, so a call still waiting then fails as "connection closed".
    connection: Option<ConnectionFuture>,
    poll: mio::Poll,
    events: mio::Events,
    blocked: Arc<Blocked>,
}

impl Driver {
    /// The connection to drive alongside calls from now on.
    pub(super) fn attach(&mut self, connection: ConnectionFuture) {
        self.connection = Some(connection);
    }

    /// Whether the connection has ended (the server closed it, or the socket failed).
    pub(super) fn is_closed(&self) -> bool {
        self.connection.is_none()
    }

    /// Runs `call` to its end, driving the connection meanwhile.
    pub(super) fn block_on<F: Future>(&mut self, call: F) -> F::Output {
        match self.run(call, None) {
            Some(v) => v,
            None => unreachable!("a call without a deadline runs to its end"),
        }
    }

    /// Runs `call` until it ends or `deadline` passes (`None`: it did not end in time).
    pub(super) fn block_on_until<F: Future>(
        &mut self,
        call: F,
        deadline: std::time::Instant,
    ) -> Option<F::Output> {
        self.run(call, Some(deadline))
    }

    fn run<F: Future>(
        &mut self,
        call: F,
        deadline: Option<std::time::Instant>,
    ) -> Option<F::Output> {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut call = std::pin::pin!(call);
        let mut short_rounds = 0u32;
        // Rounds in a row whose connection poll stopped at the socket with nothing moved.
        let mut quiet = 0u32;
        loop {
            // The call first: it queues its requests and takes the answers the connection
            // handed it. Before a connection exists (the start-up) the call does the I/O itself.
            self.blocked.take();
            if let Poll::Ready(v) = call.as_mut().poll(&mut cx) {
                return Some(v);
            }
            // Then the connection: it writes what the call queued and reads what has come.
            let connected = match self.connection.as_mut() {
                Some(connection) => {
                    self.blocked.take();
                    if let Poll::Ready(ended) = connection.as_mut().poll(&mut cx) {
                        if let Err(e) = ended {
                            tracing::warn!(error = %e, "PostgreSQL connection lost");
                        }
                        // Dropped: the call, still waiting, now fails as "connection closed".
                        self.connection = None;
                        continue;
                    }
                    true
                }
                None => false,
            };
            let (blocked, moved) = self.blocked.take();
            if moved {
                quiet = 0;
                continue;
            }
            if !blocked {
                // Stopped short of the socket: an answer waits in a full channel for the call
                // to take it (a long result, chunk by chunk). Round again at once.
                quiet = 0;
                short_rounds = short_rounds.wrapping_add(1);
                if short_rounds % 1024 == 0 {
                    std::thread::yield_now();
                }
                continue;
            }
            // Stopped at the socket with nothing moved. The connection may still have handed
            // the call an answer it held back (its channel was full), and the call, taking it,
            // may ask for more: wait only after a second such round, when the call has seen
            // everything and the connection has written whatever it asked.
            quiet += 1;
            if connected && quiet < 2 {
                continue;
            }
            quiet = 0;
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        return None;
                    }
                    left.min(WAIT)
                }
                None => WAIT,
            };
            if let Err(e) = self.poll.poll(&mut self.events, Some(wait)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    tracing::warn!(error = %e, "cannot wait for the PostgreSQL socket");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }
}
