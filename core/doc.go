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
// and a round that did not acquire takes back what it wrote.
//
// The value at the lock key names its owner (see package granularity). With
// refresh on, the default, an owner that already holds a lock acquires it
// again with a fresh TTL.
//
// # Writes and cleanups
//
// Every round knows what it may have written, and a failed round undoes
// only that. The value at a lock key holds its owner and a set of claims:
// one for each round of the owner that wrote the key and has been neither
// undone nor released. An acquisition adds its round's claim (a nonce that
// increases within the process and follows the clock across processes); a
// refresh by the holding that a Mutex has reuses the holding's claim; a
// failed acquisition removes its own claim on every node that may have run
// it, and the key goes only when no claim is left. So a failed round never
// deletes a key that an earlier holding, a concurrent round or another
// handle of a shared owner also claims; a failed refresh leaves the
// holding as it was, valid until its old Until. Unlock removes the claims
// made before it began, so a release still in flight never deletes a later
// acquisition. A node may run a script and then fail to answer (the Node
// contract's "outcome unknown"); every script is safe to repeat, and core
// repeats a call once when its connection broke. What each node may hold
// after each reply is lost, late or an error, and the model that checks
// it, are in the repository's model folder.
//
// # Contention
//
// Once a round of a lock has met another owner, its rounds ask the lock's
// gate node first and stop there if it refuses, so that contenders meet at
// one node instead of splitting the votes. The Locks of one process that
// wait on one lock queue up and are woken one at a time by the release
// notifications of nodes that implement Subscriber, and a holder that
// unlocks hands the lock to the first waiter of its own Locker in one
// round (see Mutex.Lock and Mutex.Unlock). The TryLocks of one Locker make
// one round at a time for a lock: the others wait for its outcome, or fail
// at once while a Mutex of the Locker holds the lock (see Mutex.TryLock).
//
// Rounds return as soon as their outcome is decided and finish the rest in
// the background; call Locker.Wait before closing the nodes' clients. The
// node calls run on goroutines that live on between rounds and end after
// a second without a call, so a process that has locked lately keeps as
// many as it had calls in flight at once.
//
// # Fencing
//
// With WithFencing, an acquisition reads every node's counter with its
// grant (waiting for all nodes within the node timeout), takes T = 1 + the
// highest, and commits counter = max(counter, T) where it holds the lock.
// It hands out T only once a quorum plus one node (all nodes, up to four)
// confirmed within the validity. Every two such sets and the quorum of a
// later acquisition share two nodes, so tokens strictly increase even when
// one node loses its counters (restarts without its data) between two
// acquisitions; two such losses between them can make a token repeat.
// WithDurableCounters commits on a bare quorum instead, for nodes whose
// counters survive restarts. A refresh keeps the token only when a quorum
// refreshed keys on which that token was committed.
//
// # Semaphores
//
// A Semaphore of limit L (Locker.NewSemaphore) is L slot locks, slot i an
// ordinary lock of this package with keys of its own (SlotKey), and a
// holder holds exactly one slot: an acquisition tries the slots one after
// another and stops at the first it wins, a holder refreshes the slot it
// has instead of taking another, and the operations of one Semaphore take
// turns. Each slot is exactly a Mutex's lock: its rounds, claims, undo,
// expiry and fencing are the ones above, so two owners never both hold
// one slot within their validity windows. At any moment, then, the owners
// that hold the semaphore within their validity hold pairwise different
// slots, and there are L slots: at most L owners hold it. The argument
// rests on each slot's quorum intersection alone; nothing counts holders
// on a node.
//
// The obvious design, one key per node that counts its holders, granting
// while it counts fewer than L, with a holder holding once a majority of
// nodes granted, is not safe for L of two or more: on nodes A, B and C
// with L = 2, holders 1, 2 and 3 can be granted {A, B}, {A, C} and
// {B, C}. Every node counts two holders, every holder has a majority, and
// three hold. Two majorities always share a node, but three majorities
// need not share one, and a node's count only bounds the holders that
// meet there. The repository's model checks the slot design and finds
// this counterexample in the counting one.
//
// The price of the slot design: an acquisition of a semaphore whose slots
// are all held costs one round per slot (under contention, one call to
// each slot's gate node), so limits stay small (MaxLimit).
//
// # Leader election
//
// An Election (Locker.NewElection) is a fenced lock kept alive while held,
// with keys of its own (ElectionKey), whose metadata (WithMetadata) is the
// leader's value: at most one campaigner leads within its validity, the
// term is the lock's fencing token, and a leader hears of the loss of its
// leadership through Done before its validity ends. Leader and Observe
// read every node (see Locker.Inspect); a campaigner counts as leader once
// it holds a quorum with its term committed on a quorum.
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
//     restarted node out for longer than the longest TTL. Fencing counters
//     survive one such restart between two acquisitions (see Fencing).
//   - Independence. Nodes must be independent masters, not replicas of one
//     another: replication is asynchronous, and a failover can lose a lock.
package core
