// Package core implements the Redlock algorithm over N independent Redis
// masters, and the locks that long-running jobs hold with it.
//
// A Locker holds the nodes (one core.Node per master, built with an adapter
// such as backend/goredis) and the default options; NewMutex makes a handle
// for one named lock. One acquisition round sends a script to every node at
// once, each call bounded by a per-node timeout that is small against the
// TTL, and returns as soon as the outcome is decided: a quorum (N/2+1)
// granted, or a quorum became impossible. The lock is then proven held for
//
//	validity = TTL − elapsed − (TTL × drift factor + 2ms)
//
// and a round that did not acquire releases every node it may have written.
//
// The value at the lock key names its owner (see package granularity). With
// refresh on, the default, an owner that already holds a lock acquires it
// again with a fresh TTL.
//
// # Contention
//
// Once a Mutex has met another owner, its rounds ask the lock's gate node
// first and stop there if it refuses, so that contenders meet at one node
// instead of splitting the votes. The Locks of one process that wait on one
// lock queue up and are woken one at a time by the release notifications
// of nodes that implement Subscriber, and a holder that unlocks hands the
// lock to the first waiter of its own Locker in one round (see Mutex.Lock
// and Mutex.Unlock).
//
// Rounds return as soon as their outcome is decided and finish the rest in
// the background; call Locker.Wait before closing the nodes' clients.
//
// # Safety limits
//
// Redlock's guarantee rests on assumptions that callers must keep:
//
//   - Clocks. Validity is measured on this host's monotonic clock; the nodes
//     expire keys on theirs. The drift allowance covers clocks that run at
//     slightly different rates, not clocks that jump: a node whose clock is
//     stepped forward can expire a lock early.
//   - Pauses. A holder that stops (GC, swapping, SIGSTOP) past Until() may
//     act after its lock went to someone else. Check Until() before acting,
//     keep work short against the TTL, and use fencing tokens where the
//     resource can check them.
//   - Persistence and restarts. A node that restarts without its data
//     forgets the locks it granted; another owner can then win a quorum that
//     overlaps the holder's. Run nodes with AOF and fsync=always, or keep a
//     restarted node out for longer than the longest TTL.
//   - Independence. Nodes must be independent masters, not replicas of one
//     another: replication is asynchronous, and a failover can lose a lock.
package core
