// Package conformance proves that a core.Node adapter carries core's
// scripts faithfully, and holds the real-server harness the proof runs on.
//
// An adapter's whole test hook-up is a Harness, which builds a Node for a
// server address, and one test:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.HarnessFunc(func(t testing.TB, addr string) core.Node {
//			client := myclient.New(addr)
//			t.Cleanup(func() { client.Close() })
//			return mybackend.NewNode(client)
//		}))
//	}
//
// Run starts real redis-server processes (the Debian package redis-server;
// the suite fails with that hint when the program is missing from PATH) on
// free loopback ports, with no persistence, fresh for every case. It proves
// the Node contract method by method: the reply of every script through
// Eval, a Batcher's EvalBatch call for call against Eval, a Subscriber's
// deliveries, URLs, restarts, pauses, deadlines, SCRIPT FLUSH and the
// errors each node reports; and it drives core.Locker over the adapter's
// Nodes end to end in a few cases: mutual exclusion between contenders for
// one name, keep-alive, loss, hand-over, semaphores (never more holders
// than the limit under faults, checked by a History), leader election
// (one leader through crashes and paused nodes), inspection with metadata
// and force release. Lock semantics themselves are tested once, by core's
// own tests. Each case has a time limit. Run it
// under -race.
//
// An adapter runs, besides Run: the fault campaigns of package
// conformance/faults (faults.Run, with the same Harness); RunCluster and
// RunSentinel when its client speaks to a Redis Cluster or a Sentinel
// group (each counted as one Node), on real clusters (redis-server
// --cluster-enabled, redis-cli --cluster create) and real redis-sentinel
// processes that they start; and RunGroupURLs when its NewNodeFromURL reads
// the cluster and Sentinel forms of package nodeurl. MinimalACL is the
// smallest ACL a lock user needs; the ACL cases of Run check it.
//
// NewFixture and the Fixture's helpers serve tests of their own, such as
// core's; Start, Servers and Server are usable on their own, for tests
// that need servers to kill, pause (SIGSTOP), resume and restart.
package conformance
