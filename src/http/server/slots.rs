//! Counting bounds of the connection layer: open-connection slots (total and per client IP),
//! the handler permits that cap how many `Service::handle` calls run at once, and the budget of
//! request-body bytes held in memory.
//!
//! Both are a `Mutex` + `Condvar` with RAII guards, so a slot or permit is given back on every
//! path out of a connection thread, unwinding included. A poisoned mutex is recovered (the
//! counters stay consistent because no code panics while holding the lock). Nothing here does
//! IO or knows about HTTP.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

struct SlotsInner {
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
    emptied: Condvar,
}

/// Open-connection bookkeeping shared by the acceptor and the connection threads.
pub(crate) struct ConnectionSlots {
    inner: Arc<SlotsInner>,
}

/// One open connection; dropping it frees the slot.
pub(crate) struct Slot {
    inner: Arc<SlotsInner>,
    ip: IpAddr,
}

impl ConnectionSlots {
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        ConnectionSlots {
            inner: Arc::new(SlotsInner {
                max_total,
                max_per_ip,
                counts: Mutex::new(Counts::default()),
                emptied: Condvar::new(),
            }),
        }
    }

    /// A slot for a new connection from `ip`, or None when either bound is reached.
    pub fn try_acquire(&self, ip: IpAddr) -> Option<Slot> {
        let ip = client_key(ip);
        let mut counts = lock(&self.inner.counts);
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if counts.total >= self.inner.max_total || from_ip >= self.inner.max_per_ip {
            return None;
        }
        counts.total += 1;
        counts.per_ip.insert(ip, from_ip + 1);
        Some(Slot {
            inner: Arc::clone(&self.inner),
            ip,
        })
    }

    /// Waits until every slot is freed or `deadline` passes; returns how many are still open.
    pub fn wait_until_empty(&self, deadline: Instant) -> usize {
        let mut counts = lock(&self.inner.counts);
        loop {
            let now = Instant::now();
            if counts.total == 0 || now >= deadline {
                return counts.total;
            }
            counts = match self.inner.emptied.wait_timeout(counts, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// The unit the per-IP cap counts: an IPv4 address (also when it arrives IPv4-mapped on an
/// IPv6 socket), or an IPv6 /64, since one client commonly holds a whole /64 and could otherwise
/// dodge the cap by changing the low bits.
fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & (u128::MAX << 64);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = lock(&self.inner.counts);
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                // Keeps the map as small as the set of connected clients.
                counts.per_ip.remove(&self.ip);
            }
        }
        if counts.total == 0 {
            self.inner.emptied.notify_all();
        }
    }
}

/// A counting semaphore bounding concurrent handler calls.
pub(crate) struct HandlerPermits {
    available: Mutex<usize>,
    released: Condvar,
}

/// The right to run one handler; dropping it gives the permit back.
pub(crate) struct Permit<'a> {
    permits: &'a HandlerPermits,
}

impl HandlerPermits {
    pub fn new(n: usize) -> Self {
        HandlerPermits {
            available: Mutex::new(n),
            released: Condvar::new(),
        }
    }

    /// Waits up to `patience` for a permit; None means the server is saturated.
    pub fn acquire(&self, patience: Duration) -> Option<Permit<'_>> {
        let deadline = Instant::now() + patience;
        let mut available = lock(&self.available);
        loop {
            if *available > 0 {
                *available -= 1;
                return Some(Permit { permits: self });
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            available = match self.released.wait_timeout(available, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *lock(&self.permits.available) += 1;
        self.permits.released.notify_one();
    }
}

/// Request-body bytes buffered beyond the first [`BODY_ALLOWANCE`] of each request, summed
/// over every connection. Without it, the connection bounds alone let clients that each send a
/// body just under the limit (and then stall) hold `max_connections` times `max_body_bytes`.
pub(crate) struct BodyBudget {
    left: AtomicUsize,
}

/// What each request may buffer without the budget: small requests (logins, sends, forms) are
/// never refused for want of it, and their sum stays bounded by the connection limit.
pub(crate) const BODY_ALLOWANCE: usize = super::BLOCK;

/// The part of the budget one request's body holds; given back when dropped.
pub(crate) struct BodyHold<'a> {
    budget: &'a BodyBudget,
    held: usize,
}

impl BodyBudget {
    pub fn new(bytes: usize) -> Self {
        BodyBudget {
            left: AtomicUsize::new(bytes),
        }
    }

    pub fn hold(&self) -> BodyHold<'_> {
        BodyHold {
            budget: self,
            held: 0,
        }
    }
}

impl BodyHold<'_> {
    /// Makes sure a body of `total` bytes is covered; false when the budget cannot cover it.
    #[must_use]
    pub fn cover(&mut self, total: usize) -> bool {
        let need = total
            .saturating_sub(BODY_ALLOWANCE)
            .saturating_sub(self.held);
        if need == 0 {
            return true;
        }
        let taken = self
            .budget
            .left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(need)
            })
            .is_ok();
        if taken {
            self.held += need;
        }
        taken
    }
}

impl Drop for BodyHold<'_> {
    fn drop(&mut self) {
        self.budget.left.fetch_add(self.held, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_budget_covers_beyond_the_allowance_and_is_given_back() {
        let budget = BodyBudget::new(100);
        let mut first = budget.hold();
        assert!(first.cover(BODY_ALLOWANCE), "the allowance needs no budget");
        assert!(first.cover(BODY_ALLOWANCE + 60));
        let mut second = budget.hold();
        assert!(second.cover(BODY_ALLOWANCE + 40));
        assert!(!second.cover(BODY_ALLOWANCE + 41), "only 100 bytes in all");
        drop(first);
        assert!(
            second.cover(BODY_ALLOWANCE + 100),
            "a dropped hold gives back"
        );
        drop(second);
        assert!(budget.hold().cover(BODY_ALLOWANCE + 100));
    }

    #[test]
    fn per_ip_cap_counts_ipv6_by_slash_64_and_frees_slots() {
        let slots = ConnectionSlots::new(10, 2);
        let a: IpAddr = "2001:db8::1".parse().expect("ip");
        let b: IpAddr = "2001:db8::2".parse().expect("ip");
        let other: IpAddr = "2001:db8:0:1::1".parse().expect("ip");
        let first = slots.try_acquire(a);
        let second = slots.try_acquire(b);
        assert!(first.is_some() && second.is_some());
        assert!(slots.try_acquire(a).is_none(), "same /64 is capped");
        assert!(slots.try_acquire(other).is_some(), "another /64 is not");
        drop(first);
        assert!(slots.try_acquire(b).is_some(), "a freed slot is reusable");
    }
}
