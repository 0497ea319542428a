/*
 * semaphore.pml: a semaphore of L = 2 slots over N = 3 independent Redis
 * masters, with 3 clients (Semaphore handles), in Promela. check.sh runs
 * spin on it; README.md describes the abstraction and results.
 *
 * Each slot is a lock of its own: at each node, the slot's key has an
 * owner and a set of claims (one per round of the owner that wrote it and
 * was neither undone nor released), as in redlock.pml. A client holds at
 * most one slot: while it holds none, it starts an acquisition round on
 * any slot (the model chooses: every order in which Semaphore.TryAcquire
 * may try the slots is covered); it holds the slot when a quorum granted
 * and the round is not late; a failed round undoes its claim on every node
 * that did not refuse. A holder releases its slot, or its validity ends.
 *
 * Refresh, extension, fencing and hand-over are those of one lock, which
 * redlock.pml checks; here the question is the composition: do L slot
 * locks, a holder owning one, keep the number of holders at most L, under
 * lost, failed and late replies and expiry?
 *
 * Time is as in redlock.pml: a key at a node may expire only once every
 * belief that relies on it has ended (its holder's validity has passed),
 * and a round still deciding that counted it then has no validity left.
 *
 * Properties (assertions, checked at every grant):
 *   P3  at most L holders: fewer than L other clients hold when a client
 *       starts to hold;
 *   P1  one holder per slot: no other client holds the slot granted.
 *
 * COUNTING=1 puts back the design the semaphore must not have: one key
 * per node holding the set of its holders, a node granting while it
 * counts fewer than L, a client holding once a quorum of nodes granted.
 * The checker must find P3 violated (holders 1, 2, 3 granted {A, B},
 * {A, C}, {B, C}).
 */

#define N 3
#define Q 2
#define L 2
#define NC 3
#define B 3           /* round ids per client */
#define NR (NC * B)
#define NX (L * N)    /* (slot, node) cells: x = s * N + i */

#ifndef B0
#define B0 2          /* rounds (acquisitions and releases) client 0 may start */
#endif
#ifndef B1
#define B1 2
#endif
#ifndef B2
#define B2 2
#endif
#ifndef FAULTS
#define FAULTS 1      /* lost, failed or late replies in one run, at most */
#endif
#ifndef LATES
#define LATES 1       /* calls that run after their reply stopped being waited for, at most */
#endif
#ifndef COUNTING
#define COUNTING 0    /* the defect: count holders per node instead of slot locks */
#endif
#ifndef SYMMETRY
#define SYMMETRY 1    /* store one state per renaming of the nodes */
#endif

#define BUDGET(c) ((c) == 0 -> B0 : ((c) == 1 -> B1 : B2))
#define BIT(x) (1 << (x))
#define ALL 7
#define PC(x) (((x) & 1) + (((x) >> 1) & 1) + (((x) >> 2) & 1))

#define K_ACQ 1
#define K_REL 2
#define IDLE 0
#define ACQ 1

/* nodes: each slot's key at each node */
byte own[NX];    /* owner + 1, 0 when missing */
short cl[NX];    /* its claims: a bit per round id */
#if COUNTING
byte hs[N];      /* COUNTING: the holders a node counts (a bit per client) */
#endif

/* calls in the network, by round id g = client * B + k */
byte kind[NR];
byte rslot[NR];
byte pend[NR];   /* its call has not run at node i (bit i) */
byte upend[NR];  /* its undo has not run at node i */
short rmask[NR]; /* K_REL: the claims it releases */

/* clients */
byte used[NC];
byte op[NC];
byte cur[NC];
byte wt[NC];     /* nodes whose reply the client still waits for */
byte yes[NC];
byte no[NC];
bit late[NC];
byte hold[NC];   /* 0 none, 1 holds, 2 its validity has passed */
byte hslot[NC];
byte rel[NC];    /* nodes the holding relies on */

byte faults, lates;
byte lateg = 255, latei;

hidden byte P3_at_most_limit, P1_one_holder_per_slot;
hidden byte st, j, g2, o, s2, x2, n2;

inline tidy(g) {
	if
	:: pend[g] == 0 && upend[g] == 0 && !(op[(g) / B] != IDLE && cur[(g) / B] == (g)) ->
		kind[g] = 0; rslot[g] = 0; rmask[g] = 0
	:: else
	fi
}

inline finish(c) {
	g2 = cur[c];
	op[c] = IDLE; cur[c] = 0; wt[c] = 0; yes[c] = 0; no[c] = 0; late[c] = 0;
	/* calls still out: only the late one ever runs */
	pend[g2] = (lateg == g2 -> BIT(latei) : 0);
	tidy(g2)
}

/* send round id c*B + used[c] of kind k on slot s to every node */
inline send(c, k, s, waits) {
	g2 = c * B + used[c];
	used[c]++;
	kind[g2] = k; rslot[g2] = s; cur[c] = g2;
	pend[g2] = ALL;
	if
	:: waits -> wt[c] = ALL
	:: else
	fi
}

inline grant(c) {
	n2 = 0;
	j = 0;
	do
	:: j < NC ->
		if
		:: j != c && hold[j] == 1 ->
			n2++;
#if !COUNTING
			P1_one_holder_per_slot = (hslot[j] != rslot[cur[c]]);
			assert(P1_one_holder_per_slot);
#endif
			skip
		:: else
		fi;
		j++
	:: else -> break
	od;
	P3_at_most_limit = (n2 < L);
	assert(P3_at_most_limit);
	hold[c] = 1; hslot[c] = rslot[cur[c]]; rel[c] = yes[c]
}

inline try_decide(c) {
	if
	:: op[c] == ACQ && PC(yes[c]) >= Q ->
		if
		:: !late[c] -> grant(c)
		:: else -> upend[cur[c]] = ALL & ~no[c]
		fi;
		finish(c)
	:: op[c] == ACQ && PC(yes[c]) + PC(wt[c]) < Q ->
		upend[cur[c]] = ALL & ~no[c];
		finish(c)
	:: else
	fi
}

/* the script of round g at node i: st 1 granted, 0 refused */
inline exec(g, i) {
	o = (g) / B; x2 = rslot[g] * N + i; st = 0;
	if
	:: kind[g] == K_ACQ ->
#if COUNTING
		if
		:: (hs[i] & BIT(o)) != 0 -> st = 1
		:: (hs[i] & BIT(o)) == 0 && PC(hs[i]) < L -> hs[i] = hs[i] | BIT(o); st = 1
		:: else
		fi
#else
		if
		:: own[x2] == 0 -> own[x2] = o + 1; cl[x2] = BIT(g); st = 1
		:: own[x2] == o + 1 -> cl[x2] = cl[x2] | BIT(g); st = 1
		:: else
		fi
#endif
	:: kind[g] == K_REL ->
#if COUNTING
		hs[i] = hs[i] & ~BIT(o)
#else
		if
		:: own[x2] == o + 1 ->
			cl[x2] = cl[x2] & ~rmask[g];
			if
			:: cl[x2] == 0 -> own[x2] = 0
			:: else
			fi
		:: else
		fi
#endif
	:: else
	fi
}

inline record(c, i) {
	wt[c] = wt[c] & ~BIT(i);
	if
	:: st != 0 -> yes[c] = yes[c] | BIT(i)
	:: else -> no[c] = no[c] | BIT(i)
	fi
}

#define WAITED(g, i) (op[(g) / B] != IDLE && cur[(g) / B] == (g) && ((wt[(g) / B] >> (i)) & 1))
#define RUNNABLE(g, i) (WAITED(g, i) || (lateg == (g) && latei == (i)) || kind[g] == K_REL)

inline run_call(g, i) {
	pend[g] = pend[g] & ~BIT(i);
	if
	:: lateg == (g) && latei == (i) -> lateg = 255; latei = 0
	:: else
	fi;
	exec(g, i);
	if
	:: WAITED(g, i) -> record((g) / B, i); try_decide((g) / B)
	:: else
	fi;
	tidy(g)
}

inline run_undo(g, i) {
	upend[g] = upend[g] & ~BIT(i);
	o = (g) / B; x2 = rslot[g] * N + i;
#if COUNTING
	hs[i] = hs[i] & ~BIT(o);
#else
	if
	:: own[x2] == o + 1 && (cl[x2] & BIT(g)) != 0 ->
		cl[x2] = cl[x2] & ~BIT(g);
		if
		:: cl[x2] == 0 -> own[x2] = 0
		:: else
		fi
	:: else
	fi;
#endif
	tidy(g)
}

/* the reply of client c's call to node i fails: it ran, or was lost, or
   is late (it runs at some later moment) */
inline run_then_fail(c, i) {
	faults++;
	pend[cur[c]] = pend[cur[c]] & ~BIT(i);
	wt[c] = wt[c] & ~BIT(i);
	exec(cur[c], i);
	try_decide(c)
}

inline lose(c, i) {
	faults++;
	pend[cur[c]] = pend[cur[c]] & ~BIT(i);
	wt[c] = wt[c] & ~BIT(i);
	try_decide(c)
}

inline delay(c, i) {
	lates++;
	lateg = cur[c]; latei = i;
	wt[c] = wt[c] & ~BIT(i);
	try_decide(c)
}

/* time passes a key written for client h on slot s at node i: the
   holding that relies on it has ended, and a round still deciding that
   counted it has no validity left */
inline outlive(h, s, i) {
	if
	:: hold[h] == 1 && hslot[h] == (s) && ((rel[h] >> (i)) & 1) -> hold[h] = 2; rel[h] = 0; hslot[h] = 0
	:: else
	fi;
	if
	:: op[h] == ACQ && rslot[cur[h]] == (s) && ((yes[h] >> (i)) & 1) -> late[h] = 1
	:: else
	fi
}


/* Symmetry. No node is special, so states that differ only by a renaming
   of the nodes are one: after every step the nodes are sorted by all that
   is known of each (canon), and one state per orbit is stored. */
hidden int sg[9];   /* per node i: sg[3i], sg[3i+1], sg[3i+2] */
hidden int tsg;
hidden byte sx;
hidden short tcl;

#define SWAPBIT(m, a, b) if :: (((m) >> (a)) & 1) != (((m) >> (b)) & 1) -> m = m ^ (BIT(a) | BIT(b)) :: else fi

inline sig(i) {
	sg[3 * i] = own[i] + (own[N + i] << 2) + (cl[i] << 4) + (cl[N + i] << 13) +
	            ((lateg != 255 && latei == i) -> (1 << 22) : 0);
#if COUNTING
	sg[3 * i] = sg[3 * i] + (hs[i] << 23);
#endif
	sg[3 * i + 1] = 0; sg[3 * i + 2] = 0;
	j = 0;
	do
	:: j < NR ->
		sg[3 * i + 1] = sg[3 * i + 1] + (((pend[j] >> i) & 1) << j) + (((upend[j] >> i) & 1) << (j + 9));
		j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < NC ->
		sg[3 * i + 2] = sg[3 * i + 2] + ((((wt[j] >> i) & 1) + (((yes[j] >> i) & 1) << 1) + (((no[j] >> i) & 1) << 2) +
		                (((rel[j] >> i) & 1) << 3)) << (4 * j));
		j++
	:: else -> break
	od;
	skip
}

inline swapcell(x, y) {
	sx = own[x]; own[x] = own[y]; own[y] = sx;
	tcl = cl[x]; cl[x] = cl[y]; cl[y] = tcl
}

inline swapnodes(a, b) {
	swapcell(a, b); swapcell(N + a, N + b);
#if COUNTING
	sx = hs[a]; hs[a] = hs[b]; hs[b] = sx;
#endif
	if
	:: lateg != 255 && latei == a -> latei = b
	:: lateg != 255 && latei == b -> latei = a
	:: else
	fi;
	j = 0;
	do
	:: j < NR -> SWAPBIT(pend[j], a, b); SWAPBIT(upend[j], a, b); j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < NC -> SWAPBIT(wt[j], a, b); SWAPBIT(yes[j], a, b); SWAPBIT(no[j], a, b); SWAPBIT(rel[j], a, b); j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < 3 -> tsg = sg[3 * a + j]; sg[3 * a + j] = sg[3 * b + j]; sg[3 * b + j] = tsg; j++
	:: else -> break
	od;
	skip
}

#define AFTER(a, b) (sg[3 * a] > sg[3 * b] || (sg[3 * a] == sg[3 * b] && \
                    (sg[3 * a + 1] > sg[3 * b + 1] || (sg[3 * a + 1] == sg[3 * b + 1] && sg[3 * a + 2] > sg[3 * b + 2]))))

inline canon() {
#if SYMMETRY
	sig(0); sig(1); sig(2);
	if :: AFTER(0, 1) -> swapnodes(0, 1) :: else fi;
	if :: AFTER(1, 2) -> swapnodes(1, 2) :: else fi;
	if :: AFTER(0, 1) -> swapnodes(0, 1) :: else fi;
#endif
	skip
}

/* An expiry matters only to the next call at the key, or to a round still
   deciding that counted it: it is taken just before one (a holding whose
   validity passes with no call at its keys ends by drop). */
#if COUNTING
inline expire(i, h) {
	outlive(h, 0, i); hs[i] = hs[i] & ~BIT(h)
}
inline expire_at(g, i) {
	if
	:: (hs[i] >> ((g) / B)) & 1 -> expire(i, (g) / B)
	:: else
	fi
}
#define EXPIRE(i, h) \
	:: d_step { ((hs[i] >> (h)) & 1) && op[h] == ACQ && ((yes[h] >> (i)) & 1) -> expire(i, h) }
#define NODE(i) EXPIRE(i, 0) EXPIRE(i, 1) EXPIRE(i, 2)
#define EXPIRABLE(g, i) 1
#else
inline expire(s, i) {
	x2 = (s) * N + i;
	outlive(own[x2] - 1, s, i); own[x2] = 0; cl[x2] = 0
}
#define expire_at(g, i) expire(rslot[g], i)
#define EXPIRE(s, i) \
	:: d_step { own[(s) * N + i] != 0 && op[own[(s) * N + i] - 1] == ACQ && rslot[cur[own[(s) * N + i] - 1]] == (s) && \
	            ((yes[own[(s) * N + i] - 1] >> (i)) & 1) -> expire(s, i) }
#define NODE(i) EXPIRE(0, i) EXPIRE(1, i)
#define EXPIRABLE(g, i) (own[rslot[g] * N + i] != 0)
#endif

#define IDLE_WITH_ROUND(c) (op[c] == IDLE && used[c] < BUDGET(c))

#if COUNTING
#define START(c) \
	:: d_step { IDLE_WITH_ROUND(c) && hold[c] != 1 -> hold[c] = 0; rel[c] = 0; send(c, K_ACQ, 0, 1); op[c] = ACQ }
#else
#define START(c) \
	:: d_step { IDLE_WITH_ROUND(c) && hold[c] != 1 -> hold[c] = 0; rel[c] = 0; send(c, K_ACQ, 0, 1); op[c] = ACQ } \
	:: d_step { IDLE_WITH_ROUND(c) && hold[c] != 1 && (used[0] + used[1] + used[2]) > 0 -> hold[c] = 0; rel[c] = 0; send(c, K_ACQ, 1, 1); op[c] = ACQ }
#endif

/* a release removes the claims of every round the client started before */
#define CLIENT(c) \
	START(c) \
	:: d_step { IDLE_WITH_ROUND(c) && hold[c] != 0 -> \
		s2 = hslot[c]; o = used[c]; send(c, K_REL, s2, 0); \
		rmask[g2] = ((1 << o) - 1) << ((c) * B); cur[c] = 0; hold[c] = 0; rel[c] = 0; hslot[c] = 0 } \
	:: d_step { IDLE_WITH_ROUND(c) && hold[c] == 1 -> hold[c] = 2; rel[c] = 0; hslot[c] = 0 } \
	FAULT(c, 0) FAULT(c, 1) FAULT(c, 2)

#define FAULT(c, i) \
	:: d_step { faults < FAULTS && ((wt[c] >> i) & 1) -> run_then_fail(c, i) } \
	:: d_step { faults < FAULTS && ((wt[c] >> i) & 1) -> lose(c, i) } \
	:: d_step { lates < LATES && ((wt[c] >> i) & 1) -> delay(c, i) }

#define CALL(g, i, b) \
	:: d_step { (pend[g] & b) && RUNNABLE(g, i) -> run_call(g, i) } \
	:: d_step { (pend[g] & b) && RUNNABLE(g, i) && EXPIRABLE(g, i) -> expire_at(g, i); run_call(g, i) } \
	:: d_step { (upend[g] & b) -> run_undo(g, i) } \
	:: d_step { (upend[g] & b) && EXPIRABLE(g, i) -> expire_at(g, i); run_undo(g, i) }

#define CALLS(g) CALL(g, 0, 1) CALL(g, 1, 2) CALL(g, 2, 4)

active proctype system() {
end:
	do
	:: atomic {
		if
	CLIENT(0)
	CLIENT(1)
	CLIENT(2)
	NODE(0)
	NODE(1)
	NODE(2)
	CALLS(0) CALLS(1) CALLS(2)
	CALLS(3) CALLS(4) CALLS(5)
	CALLS(6) CALLS(7) CALLS(8)
		fi;
		d_step { canon() }  /* the step, then one canon, with no state stored in between */
	}
	od
}
