//! One stream of one connection: a reader that pulls chunks from the sending
//! socket into a bounded queue, and a writer that applies the toxics and
//! writes them to the receiving socket.
//!
//! Reader and writer are separate futures so that latency delays chunks
//! without stalling the reads behind them (as in Toxiproxy, throughput is
//! not divided by the latency), while the bounded queue keeps memory at
//! `chunk_bytes * queue_chunks` per stream: when it is full the reader
//! stops reading and TCP flow control pushes back on the sender.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, sleep_until, Instant};

use crate::rng::Rng;
use crate::state::{bump, Counters, Ending, ToxicTable};
use crate::toxic::Stream;

/// Why a stream stopped before its orderly end of stream.
#[derive(Debug)]
pub(crate) enum Abort {
    /// A toxic ends the connection.
    Ended(Ending),
    /// A socket failed; the connection cannot go on.
    Io(io::Error),
    /// The proxy is gone.
    Shutdown,
}

/// Bandwidth pieces carry 100 ms worth of bytes: small enough that a rate
/// change takes effect quickly, large enough to keep the write count low.
const BANDWIDTH_TICKS_PER_S: u64 = 10;

/// Everything one stream needs besides its two socket halves.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) stream: Stream,
    pub(crate) toxics: watch::Receiver<Arc<ToxicTable>>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) rng: Rng,
    pub(crate) chunk_bytes: usize,
    pub(crate) queue_chunks: usize,
}

/// A chunk read from the sender, stamped for the latency toxic.
#[derive(Debug)]
struct Chunk {
    data: Vec<u8>,
    read_at: Instant,
}

/// Pumps `from` into `to` until the sender's end of stream has been passed
/// on (`Ok`), or something stops the stream early (`Err`).
pub(crate) async fn run<R, W>(link: Link, from: R, to: W) -> Result<(), Abort>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    assert!(
        link.chunk_bytes > 0,
        "config validation rejects chunk_bytes 0"
    );
    assert!(
        link.queue_chunks > 0,
        "config validation rejects queue_chunks 0"
    );
    let (queue_tx, queue_rx) = mpsc::channel(link.queue_chunks);
    let reader = Reader {
        stream: link.stream,
        toxics: link.toxics.clone(),
        counters: Arc::clone(&link.counters),
        chunk_bytes: link.chunk_bytes,
    };
    let writer = Writer {
        stream: link.stream,
        toxics: link.toxics,
        counters: link.counters,
        rng: link.rng,
        limit: LimitCount::default(),
    };
    tokio::try_join!(reader.run(from, queue_tx), writer.run(queue_rx, to))?;
    Ok(())
}

fn shutdown<E>(_closed: E) -> Abort {
    Abort::Shutdown
}

/// Waits while a Timeout toxic holds `stream`.
async fn wait_while_held(
    toxics: &mut watch::Receiver<Arc<ToxicTable>>,
    stream: Stream,
) -> Result<(), Abort> {
    while toxics.borrow_and_update().holds(stream) {
        toxics.changed().await.map_err(shutdown)?;
    }
    Ok(())
}

struct Reader {
    stream: Stream,
    toxics: watch::Receiver<Arc<ToxicTable>>,
    counters: Arc<Counters>,
    chunk_bytes: usize,
}

impl Reader {
    /// Reads until end of stream; dropping `queue` then tells the writer.
    async fn run<R: AsyncRead + Unpin>(
        mut self,
        mut from: R,
        queue: mpsc::Sender<Chunk>,
    ) -> Result<(), Abort> {
        loop {
            // Not reading is how Timeout holds data: it stays in the
            // kernel's buffers and the sender eventually blocks, as in a
            // black hole, yet nothing is lost if the toxic goes away.
            wait_while_held(&mut self.toxics, self.stream).await?;
            let mut data = Vec::with_capacity(self.chunk_bytes);
            let read_bytes = tokio::select! {
                biased;
                // A Timeout set while a read is pending must stop it; a
                // socket read is cancel-safe, so nothing is lost.
                changed = self.toxics.changed() => {
                    changed.map_err(shutdown)?;
                    continue;
                }
                read = from.read_buf(&mut data) => read.map_err(Abort::Io)?,
            };
            if read_bytes == 0 {
                return Ok(());
            }
            bump(
                &self.counters.stream(self.stream).bytes_read,
                read_bytes as u64,
            );
            let chunk = Chunk {
                data,
                read_at: Instant::now(),
            };
            // A full queue waits here: that is the backpressure bound.
            queue.send(chunk).await.map_err(shutdown)?;
        }
    }
}

/// Bytes forwarded under the current LimitData toxic; `id` tells a newly
/// set limit (count from zero) from the one being counted.
#[derive(Debug, Default)]
struct LimitCount {
    id: u64,
    sent_bytes: u64,
}

struct Writer {
    stream: Stream,
    toxics: watch::Receiver<Arc<ToxicTable>>,
    counters: Arc<Counters>,
    rng: Rng,
    limit: LimitCount,
}

impl Writer {
    async fn run<W: AsyncWrite + Unpin>(
        mut self,
        mut queue: mpsc::Receiver<Chunk>,
        mut to: W,
    ) -> Result<(), Abort> {
        while let Some(chunk) = queue.recv().await {
            self.wait_latency(chunk.read_at).await?;
            self.write_chunk(&chunk.data, &mut to).await?;
        }
        // The reader saw end of stream and everything queued is written:
        // pass the FIN on, so half-closed protocols keep working.
        wait_while_held(&mut self.toxics, self.stream).await?;
        to.shutdown().await.map_err(Abort::Io)?;
        bump(&self.counters.stream(self.stream).eofs_forwarded, 1);
        Ok(())
    }

    /// Sleeps until `read_at` plus the (jittered) latency. A toxic change
    /// re-times the wait, so removing latency releases queued chunks at once.
    async fn wait_latency(&mut self, read_at: Instant) -> Result<(), Abort> {
        loop {
            let latency = self.toxics.borrow_and_update().latency(self.stream);
            let Some((latency, jitter)) = latency else {
                return Ok(());
            };
            let delay = self.rng.jittered(latency, jitter);
            tokio::select! {
                biased;
                changed = self.toxics.changed() => changed.map_err(shutdown)?,
                () = sleep_until(read_at + delay) => return Ok(()),
            }
        }
    }

    /// Writes one chunk piece by piece; each piece is sized and paced by
    /// the toxics in force when it is written.
    async fn write_chunk<W: AsyncWrite + Unpin>(
        &mut self,
        data: &[u8],
        to: &mut W,
    ) -> Result<(), Abort> {
        let mut rest = data;
        while !rest.is_empty() {
            wait_while_held(&mut self.toxics, self.stream).await?;
            let table = Arc::clone(&self.toxics.borrow_and_update());
            let slicer = table.slicer(self.stream);
            let rate_kb_per_s = table.bandwidth_kb_per_s(self.stream);
            let mut piece_bytes = rest.len();
            if let Some((average, variation, _)) = slicer {
                piece_bytes = piece_bytes.min(self.rng.slice_size(average, variation));
            }
            if let Some(rate) = rate_kb_per_s {
                piece_bytes = piece_bytes.min(bytes_per_tick(rate));
            }
            let limit = table.limit(self.stream);
            if let Some((id, max_bytes)) = limit {
                piece_bytes = piece_bytes.min(self.limit_left(id, max_bytes)?);
            }
            let (piece, after) = rest.split_at(piece_bytes);
            to.write_all(piece).await.map_err(Abort::Io)?;
            rest = after;
            bump(
                &self.counters.stream(self.stream).bytes_forwarded,
                piece_bytes as u64,
            );
            if let Some((id, max_bytes)) = limit {
                self.limit.sent_bytes += piece_bytes as u64;
                if self.limit_left(id, max_bytes)? == 0 {
                    // Toxiproxy closes as soon as the limit is reached,
                    // without waiting for the next byte.
                    return Err(Abort::Ended(Ending::Close));
                }
            }
            if let Some(rate) = rate_kb_per_s {
                sleep(transfer_time(piece_bytes, rate)).await;
            }
            if let Some((_, _, delay)) = slicer {
                if !rest.is_empty() && !delay.is_zero() {
                    sleep(delay).await;
                }
            }
        }
        Ok(())
    }

    /// Bytes still allowed under limit `id`; an exhausted limit ends the
    /// connection.
    fn limit_left(&mut self, id: u64, max_bytes: u64) -> Result<usize, Abort> {
        if self.limit.id != id {
            self.limit = LimitCount { id, sent_bytes: 0 };
        }
        let left = max_bytes.saturating_sub(self.limit.sent_bytes);
        if left == 0 {
            return Err(Abort::Ended(Ending::Close));
        }
        Ok(usize::try_from(left).unwrap_or(usize::MAX))
    }
}

/// Bytes in one 100 ms tick at `rate_kb_per_s`, at least 1.
fn bytes_per_tick(rate_kb_per_s: u64) -> usize {
    let bytes = rate_kb_per_s.saturating_mul(1000) / BANDWIDTH_TICKS_PER_S;
    usize::try_from(bytes.max(1)).unwrap_or(usize::MAX)
}

/// How long `bytes` take at `rate_kb_per_s` (validated to be 1..=10^7).
fn transfer_time(bytes: usize, rate_kb_per_s: u64) -> Duration {
    let bytes_per_s = u128::from(rate_kb_per_s.max(1)) * 1000;
    let nanos = (bytes as u128) * 1_000_000_000 / bytes_per_s;
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_pieces_carry_a_tenth_of_a_second_of_bytes() {
        assert_eq!(bytes_per_tick(64), 6400);
        assert_eq!(bytes_per_tick(1), 100);
        assert_eq!(
            transfer_time(6400, 64),
            Duration::from_millis(100),
            "a piece takes one tick"
        );
    }

    #[test]
    fn transfer_time_of_64_kib_at_64_kb_per_s_is_just_over_a_second() {
        let total: Duration = (0..10)
            .map(|_| transfer_time(6400, 64))
            .chain([transfer_time(65536 - 64_000, 64)])
            .sum();
        assert_eq!(total, Duration::from_millis(1024));
    }
}
