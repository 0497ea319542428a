// Package faults is the evidence that locks made by core hold up when
// servers crash, stop and restart and the network between clients and
// servers misbehaves. Like package conformance it runs against real
// redis-server processes through an adapter's Harness; a backend's hook-up
// is one test:
//
//	func TestFaults(t *testing.T) { faults.Run(t, harness{}) }
//
// Run has these parts, each a subtest with a time limit:
//
//   - MinorityCampaign: clients take one lock name again and again over
//     five servers, each through its own TCP proxy to every server, and
//     record each critical section (start, end, end of validity, fencing
//     token) on one monotonic clock. Meanwhile a driver crashes (SIGKILL)
//     and restarts servers, pauses them (SIGSTOP), partitions clients from
//     servers (connections held or refused), adds latency and drops
//     connections, keeping at most two servers out at once. A server that
//     restarts has lost its data (no persistence) and stays partitioned off
//     for longer than the TTL before it rejoins: the delayed restart that
//     Redlock's description asks for. Afterwards: no two sections overlap
//     while both holders' validity windows were open; fencing tokens
//     strictly increase in acquisition order; every lock key is gone from
//     every server; no goroutine of core or of this package is left.
//   - MinorityCampaignDurable: the same with servers that keep their data
//     across a crash (AOF, appendfsync always) and rejoin at once.
//   - MajorityRefuses: with three of five servers crashed, paused or
//     partitioned, or with every client in a minority partition of its own,
//     every round is refused and the refused rounds leave no key behind.
//   - RefusedRoundsLeaveNothing: two refused rounds back to back over a
//     slow server leave no key there.
//   - StalledHolder (Kleppmann): a holder whose process stalls past its TTL
//     hears of the loss before its validity ends; another client acquires
//     after it; the stalled holder's late write is refused by a resource
//     that checks fencing tokens.
//   - RestartWithoutPersistence (Kleppmann): a server that restarts empty
//     while a lock is held. Restarted at once, it lets a second client win a
//     quorum that overlaps the holder's, and the test asserts that it does:
//     that is why the delayed restart is advised. Kept out for longer than
//     the TTL, it cannot.
//   - FenceCounters: the delayed restart protects the lock but not the
//     fencing counters. A token is committed on a quorum plus one server,
//     so one server that restarts empty leaves the counter on a server of
//     every later quorum, and tokens keep increasing. With
//     WithDurableCounters a token is committed on a bare quorum: a server
//     that restarts empty can then be the only one a later quorum shares
//     with the last commit, and a lower token is handed out, unless the
//     servers run with AOF and appendfsync always.
//
// By default each campaign runs for seconds, so that a backend's whole run
// stays well under a minute. The flag -faults.long runs them for minutes;
// -faults.seed=N replays a fault schedule (the log shows each run's seed;
// the timing of the clients is not replayed).
//
// What the campaigns cannot show: clocks that jump (every process here
// reads one host's clock) and replication between servers (there is none).
package faults
