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
// free loopback ports, with no persistence, fresh for every case. It drives
// core.Locker over the adapter's Nodes: mutual exclusion between contenders
// for one name, expiry, ownership, refresh, the loss and pause of nodes,
// deadlines, SCRIPT FLUSH, and the errors each node reports. Each case has
// a time limit. Run it under -race.
//
// Start, Servers and Server are usable on their own, for tests that need
// servers to kill, pause (SIGSTOP), resume and restart.
package conformance
