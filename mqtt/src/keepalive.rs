//! Keep-alive timer of one link: when to send PINGREQ and when a missing
//! PINGRESP means the link is dead. Time is an input (`now`, a duration
//! since the driver's origin), never read here.

use std::time::Duration;

/// What the keep-alive timer asks for at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Nothing to do yet.
    Idle,
    /// Send a PINGREQ now.
    Ping,
    /// A PINGREQ went unanswered for `ping_timeout`: the link is dead.
    Dead,
}

#[derive(Debug)]
pub(crate) struct KeepAlive {
    interval: Duration,
    ping_timeout: Duration,
    last_read: Duration,
    last_write: Duration,
    ping_sent_at: Option<Duration>,
}

impl KeepAlive {
    pub(crate) fn new(now: Duration, interval: Duration, ping_timeout: Duration) -> Self {
        KeepAlive {
            interval,
            ping_timeout,
            last_read: now,
            last_write: now,
            ping_sent_at: None,
        }
    }

    pub(crate) fn on_read(&mut self, now: Duration) {
        self.last_read = self.last_read.max(now);
    }

    pub(crate) fn on_write(&mut self, now: Duration) {
        self.last_write = self.last_write.max(now);
    }

    pub(crate) fn on_ping_response(&mut self) {
        self.ping_sent_at = None;
    }

    /// When [`Self::tick`] next has something to say.
    ///
    /// A ping is due when *either* direction has been idle for the interval:
    /// the broker drops a client that has not sent for 1.5x keep-alive even
    /// while it keeps receiving, and a client that only writes (QoS 0) into
    /// a dead link would otherwise never find out, since writes into the
    /// kernel buffer keep succeeding.
    pub(crate) fn deadline(&self) -> Duration {
        match self.ping_sent_at {
            Some(sent) => sent + self.ping_timeout,
            None => self.last_read.min(self.last_write) + self.interval,
        }
    }

    pub(crate) fn tick(&mut self, now: Duration) -> Tick {
        if now < self.deadline() {
            return Tick::Idle;
        }
        if self.ping_sent_at.is_some() {
            return Tick::Dead;
        }
        self.ping_sent_at = Some(now);
        Tick::Ping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn pings_after_an_idle_interval_and_dies_without_a_response() {
        let mut ka = KeepAlive::new(Duration::ZERO, 10 * S, 2 * S);
        assert_eq!(ka.tick(9 * S), Tick::Idle);
        assert_eq!(ka.deadline(), 10 * S);
        assert_eq!(ka.tick(10 * S), Tick::Ping);
        assert_eq!(ka.deadline(), 12 * S);
        assert_eq!(ka.tick(11 * S), Tick::Idle);
        assert_eq!(ka.tick(12 * S), Tick::Dead);
    }

    #[test]
    fn a_response_rearms_the_timer() {
        let mut ka = KeepAlive::new(Duration::ZERO, 10 * S, 2 * S);
        assert_eq!(ka.tick(10 * S), Tick::Ping);
        ka.on_read(11 * S);
        ka.on_ping_response();
        ka.on_write(10 * S);
        assert_eq!(ka.deadline(), 20 * S);
    }

    #[test]
    fn reading_alone_does_not_postpone_the_ping() {
        let mut ka = KeepAlive::new(Duration::ZERO, 10 * S, 2 * S);
        ka.on_read(9 * S);
        assert_eq!(ka.tick(10 * S), Tick::Ping);
    }
}
