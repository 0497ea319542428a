/*
 * redlock.pml: the round protocol of package core over N = 3 independent
 * Redis masters, for one lock name, in Promela. check.sh runs spin on
 * every configuration; README.md describes the abstraction and results.
 *
 * The state is the nodes' data (the lock key's owner, its claims and its
 * token F, the fencing counter), the calls still in the network, and each
 * client's round and belief. One process makes every step, each a d_step
 * chosen among the enabled ones below, so a trace is a sequence of whole
 * steps:
 *
 *   start    a client starts an operation: TryLock (take, or refresh what
 *            it holds), Extend, Unlock (or a hand-over to a waiter);
 *   run      a call still in the network runs its script at its node, at
 *            any later moment, in any order with other calls: on time, or
 *            late, long after its round was decided; or never;
 *   fault    a reply the client waits for is lost, late or an error: the
 *            client counts the node as failed; the call itself may still
 *            run later, or never ("ran the script, then failed");
 *   undo     a failed round's undo call runs (or never does);
 *   expire   a key expires;
 *   restart  a node restarts empty (its counter lost unless DURABLE) and
 *            stays out for a TTL; back: it returns;
 *   drop     a client's validity ends (its holding either ends or stays
 *            on the Mutex, expired, to be refreshed by the next TryLock);
 *   counter  with COUNTER_TTL: a fencing counter expires, CTTL ticks
 *            after the last commit that reached it (the clock moves on to
 *            then if it is not there yet).
 *
 * Time. Instead of clocks, the model keeps what the TTL arithmetic of core
 * guarantees (policy.validity): every key a round writes is written after
 * the round started, so it outlives the validity the round hands out. So a
 * key at node i may expire, and a restarted node i may come back, only
 * when no live belief relies on node i; a round still deciding that
 * counted node i then has no validity left (late) and fails.
 *
 * Counter TTL (COUNTER_TTL). Fencing counters expire, and a token is
 * max(highest counter read + 1, the client's clock) (SEED). The clock clk
 * is the one timed thing in the model. It advances by at least one
 * between two token computations (each follows two round trips of its
 * own, far longer than the clock's unit, a microsecond), to a counter's
 * expiry when that counter expires, and by a tick (up to CLKMAX) before
 * the slow call runs, so that a late commit may land after the commits of
 * later tokens and re-create a counter that outlives theirs. Time passing
 * at other moments changes nothing the properties see. Client 0's clock is
 * SKEW ticks ahead. Keys still expire untimed, as above, so a late commit
 * may land at any later moment while its holding's key is there.
 *
 * Properties (assertions):
 *   P1  mutual exclusion: when a client starts to hold, no client of
 *       another owner holds (checked at every grant);
 *   P2  tokens increase: a new token exceeds every token handed out
 *       before; a reused token is not below any.
 */

#define N 3
#define Q 2

/* Configuration (-D...; check.sh sets them) */
#ifndef NC
#define NC 2          /* clients (Mutex handles) */
#endif
#ifndef B0
#define B0 3          /* rounds client 0 may start */
#endif
#ifndef B1
#define B1 3
#endif
#ifndef B2
#define B2 0
#endif
#define B 4           /* round ids per client */
#ifndef FENCING
#define FENCING 0     /* acquisitions are fenced (WithFencing) */
#endif
#ifndef FQ
#define FQ 3          /* fence quorum: min(q+1, N); Q with WithDurableCounters */
#endif
#ifndef REUSE
#define REUSE 2       /* refreshed-with-token replies that let a refresh keep its token: max(Q, 2(N-FQ)+1) */
#endif
#ifndef FAULTS
#define FAULTS 2      /* lost or late replies in one run, at most */
#endif
#ifndef LATES
#define LATES 1       /* calls that run after their reply stopped being waited for, at most */
#endif
#ifndef RESTART
#define RESTART 0     /* empty restarts of a node in one run, at most */
#endif
#ifndef DURABLE
#define DURABLE 0     /* a restart keeps the counter */
#endif
#ifndef SHARED
#define SHARED 0      /* clients 0 and 1 share one owner (Process, Task, Host) */
#endif
#ifndef HANDOVER
#define HANDOVER 0    /* client 0 unlocks by handing over to client 1, a waiting Lock */
#endif
#ifndef EXTEND
#define EXTEND 1
#endif
#ifndef UNLOCK
#define UNLOCK 1
#endif
/* The defects an outside review found, put back one at a time: */
#ifndef OLD_UNDO
#define OLD_UNDO 0    /* one nonce per key, overwritten by a refresh; a failed round deletes the key if it holds its nonce */
#endif
#ifndef OLD_FENCE
#define OLD_FENCE 0   /* counters read from the early quorum only; the token committed on a bare quorum */
#endif
#ifndef OLD_REUSE
#define OLD_REUSE 0   /* a Mutex that ever had a token reuses it */
#endif
#ifndef SYMMETRY
#define SYMMETRY 1    /* store one state per renaming of the nodes */
#endif
#ifndef OLD_EXTEND
#define OLD_EXTEND 0  /* an extension counts any key of the owner, not only the holding's claim's */
#endif
#ifndef FENCE_ANY_CLAIM
#define FENCE_ANY_CLAIM 0 /* the fence script raises F on any key of the owner, not only the committing claim's */
#endif
#ifndef COUNTER_TTL
#define COUNTER_TTL 0 /* fencing counters expire CTTL ticks after the last commit that reached them */
#endif
#ifndef CTTL
#define CTTL 2
#endif
#ifndef CLKMAX
#define CLKMAX 5      /* ticks in one run, at most (token computations advance it too) */
#endif
#ifndef SKEW
#define SKEW 1        /* client 0's clock is this far ahead; tokens hold while SKEW < CTTL */
#endif
#ifndef RETRIES
#define RETRIES 0     /* releases that run at a node and stay pending there, to run again later (Unlock asks a node again) */
#endif
#ifndef SEED
#define SEED 1        /* 1: token = max(counter + 1, clock); 0: counter + 1 (no clock); 2: the clock only when every counter read is missing */
#endif

#define NR (NC * B)
#define BUDGET(c) ((c) == 0 -> B0 : ((c) == 1 -> B1 : B2))
#define BIT(x) (1 << (x))
#define ALL 7
#define PC(x) (((x) & 1) + (((x) >> 1) & 1) + (((x) >> 2) & 1))
#if SHARED
#define OWNER(c) ((c) < 2 -> 1 : 2)
#else
#define OWNER(c) ((c) + 1)
#endif
#if OLD_FENCE
#define FQE Q
#define WAITALL 0
#else
#define FQE FQ
#define WAITALL FENCING
#endif

/* call kinds */
#define K_ACQ1 1  /* acquire, fresh claim (mode 1) */
#define K_ACQ2 2  /* acquire, refresh of the holding's claim (mode 2) */
#define K_REL  3
#define K_EXT  4
#define K_FEN  5
#define K_HAND 6
/* client operations */
#define IDLE 0
#define ACQ  1
#define FEN  2
#define EXT  3
#define HAND 4

/* nodes */
byte own[N];     /* owner of the lock key, 0 when missing */
short cl[N];     /* its claims: a bit per round id */
byte F[N];       /* its token */
byte cnt[N];     /* the fencing counter (0: missing) */
byte cexp[N];    /* COUNTER_TTL: when it expires */
byte clk;        /* COUNTER_TTL: the clock */
bit out[N];      /* restarted, not back yet */

/* calls in the network, by round id g = client * B + k */
byte kind[NR];
byte rclaim[NR]; /* the claim it writes or commits */
byte rtok[NR];   /* K_FEN: the token */
short rmask[NR]; /* K_REL, K_HAND: the claims it releases or passes */
byte pend[NR];   /* its call has not run at node i (bit i) */
byte upend[NR];  /* its undo has not run at node i */
short started;   /* round ids issued so far (nonces are ordered) */

/* clients */
byte used[NC];   /* rounds started */
byte op[NC];
byte cur[NC];    /* the round of op */
byte acq[NC];    /* FEN: the acquisition round being committed */
byte wt[NC];     /* nodes whose reply the client still waits for */
byte yes[NC];    /* nodes that granted or refreshed */
byte fresh[NC];  /* nodes that refreshed */
byte rf[NC];     /* nodes that refreshed and returned the holding's token */
byte no[NC];     /* nodes that refused */
byte cmax[NC];   /* highest counter read */
bit late[NC];    /* no validity left */
byte ayes[NC];   /* FEN: the acquisition's yes, no and token */
byte ano[NC];
byte atok[NC];
byte hold[NC];   /* 0 none (or ended), 1 live, 2 valid no more but not ended */
byte hclaim[NC];
byte hfence[NC];
byte rel[NC];    /* nodes the live validity relies on */
bit handed;      /* HANDOVER: client 1 no longer waits */

byte faults, lates, restarts, retried, maxTok;
byte lateg = 255, latei; /* the call that runs late, once chosen */

/* scratch, not part of the state */
hidden byte P1_mutual_exclusion, P2_new_token_above, P2_reused_token_not_below;
hidden short tmpcl;
hidden int tsg;
hidden byte st, ctr, tf, ny, nw, j, o, g2, f1, f2, hp, rk, seed, cg, ci;

inline tidy(g) {
	if
	:: pend[g] == 0 && upend[g] == 0 &&
	   !(op[(g) / B] != IDLE && cur[(g) / B] == (g)) &&
	   !(op[(g) / B] == FEN && acq[(g) / B] == (g)) ->
		kind[g] = 0; rclaim[g] = 0; rtok[g] = 0; rmask[g] = 0
	:: else
	fi
}

inline clear_tally(c) {
	wt[c] = 0; yes[c] = 0; fresh[c] = 0; rf[c] = 0; no[c] = 0; cmax[c] = 0; late[c] = 0;
	ayes[c] = 0; ano[c] = 0; atok[c] = 0
}

inline finish(c) {
	f1 = cur[c]; f2 = acq[c];
	op[c] = IDLE; cur[c] = 0; acq[c] = 0; clear_tally(c);
	/* calls still out: only the late one ever runs */
	pend[f1] = (lateg == f1 -> BIT(latei) : 0);
	pend[f2] = (lateg == f2 -> BIT(latei) : 0);
	tidy(f1); tidy(f2)
}

/* send round id (c*B + used[c]) of kind k to every node that is up;
   waits: the client waits for the replies */
inline send(c, k, waits) {
	g2 = c * B + used[c];
	used[c]++;
	started = started | BIT(g2);
	kind[g2] = k; cur[c] = g2;
	j = 0;
	do
	:: j < N ->
		if
		:: !out[j] ->
			pend[g2] = pend[g2] | BIT(j);
			if
			:: waits -> wt[c] = wt[c] | BIT(j)
			:: else
			fi
		:: else
		fi;
		j++
	:: else -> break
	od;
	skip  /* a d_step may not end on a loop's exit */
}

/* P1 at a grant to client c */
inline grant(c, claim, fence, relies) {
	j = 0;
	do
	:: j < NC ->
		P1_mutual_exclusion = (j == c || hold[j] != 1 || OWNER(j) == OWNER(c));
		assert(P1_mutual_exclusion);
		j++
	:: else -> break
	od;
	hold[c] = 1; hclaim[c] = claim; hfence[c] = fence; rel[c] = relies
}

/* a failed acquisition or hand-over round g takes back its claim on every
   node that did not refuse (NEW: only a fresh claim; a refresh has none) */
inline undo_round(g, refused) {
#if OLD_UNDO
	upend[g] = ALL & ~(refused)
#else
	if
	:: kind[g] == K_ACQ1 || kind[g] == K_HAND -> upend[g] = ALL & ~(refused)
	:: else
	fi
#endif
}

inline fail_acq(c, g, refused) {
	undo_round(g, refused);
	finish(c)
}

inline acq_decided(c) {
	if
	:: ny >= Q && !late[c] ->
#if FENCING
		if
#if OLD_REUSE
		:: hfence[c] != 0 ->
#else
		:: hold[c] != 0 && hfence[c] != 0 && PC(rf[c]) >= REUSE ->
#endif
			P2_reused_token_not_below = (hfence[c] >= maxTok);
			assert(P2_reused_token_not_below);
			grant(c, rclaim[cur[c]], hfence[c], yes[c]);
			finish(c)
		:: else ->
			if
			:: ny < FQE || used[c] >= BUDGET(c) -> fail_acq(c, cur[c], no[c])
			:: else ->
				ayes[c] = yes[c]; ano[c] = no[c]; atok[c] = cmax[c] + 1;
#if COUNTER_TTL
				seed = clk + (c == 0 -> SKEW : 0);
				clk++;
#if SEED == 1
				if :: seed > atok[c] -> atok[c] = seed :: else fi;
#elif SEED == 2
				if :: cmax[c] == 0 && seed > atok[c] -> atok[c] = seed :: else fi;
#endif
#endif
				acq[c] = cur[c];
				wt[c] = 0; yes[c] = 0; fresh[c] = 0; rf[c] = 0; no[c] = 0; cmax[c] = 0;
				send(c, K_FEN, 1);
				rclaim[g2] = rclaim[acq[c]]; rtok[g2] = atok[c];
				op[c] = FEN
			fi
		fi
#else
		grant(c, rclaim[cur[c]], 0, yes[c]);
		finish(c)
#endif
	:: else -> fail_acq(c, cur[c], no[c])
	fi
}

inline try_decide(c) {
	ny = PC(yes[c]); nw = PC(wt[c]);
	if
	:: op[c] == ACQ && ((ny >= Q && (!WAITALL || nw == 0)) || ny + nw < Q) ->
		acq_decided(c)
	:: op[c] == FEN && (ny >= FQE || ny + nw < FQE) ->
		if
		:: ny >= FQE && !late[c] ->
			P2_new_token_above = (atok[c] > maxTok);
			assert(P2_new_token_above);
			maxTok = atok[c];
			grant(c, rclaim[acq[c]], atok[c], ayes[c]);
			finish(c)
		:: else -> fail_acq(c, acq[c], ano[c])
		fi
	:: op[c] == EXT && (ny >= Q || ny + nw < Q) ->
		if
		:: ny >= Q && !late[c] && hold[c] == 1 -> rel[c] = yes[c]
		:: else
		fi;
		finish(c)
	:: op[c] == HAND && (ny >= Q || ny + nw < Q) ->
		if
		:: ny >= Q && !late[c] ->
			handed = 1;
			grant(1, cur[c], 0, yes[c]);
			finish(c)
		:: else ->
			/* undone; the holder then releases what was not passed */
			hp = yes[c];
			undo_round(cur[c], no[c]);
			o = rmask[cur[c]];
			finish(c);
			if
			:: used[c] < BUDGET(c) ->
				send(c, K_REL, 0);
				cur[c] = 0; pend[g2] = pend[g2] & ~hp; rmask[g2] = o; tidy(g2)
			:: else
			fi
		fi
	:: else
	fi
}

/* the script of round g at node i: st (0 refused, 1 granted, 2 refreshed),
   ctr (the counter), tf (the key's token, when granted) */
inline exec(g, i) {
	o = OWNER((g) / B); st = 0; ctr = cnt[i]; tf = 0;
	if
	:: kind[g] == K_ACQ1 || kind[g] == K_ACQ2 ->
		if
		:: own[i] == 0 ->
			own[i] = o; cl[i] = BIT(rclaim[g]); F[i] = 0; st = 1
		:: own[i] == o ->
#if OLD_UNDO
			cl[i] = BIT(rclaim[g]); st = 2
#else
			if
			:: (cl[i] & BIT(rclaim[g])) != 0 && kind[g] == K_ACQ1 ->
				st = (cl[i] == BIT(rclaim[g]) -> 1 : 2)
			:: else -> st = 2
			fi;
			cl[i] = cl[i] | BIT(rclaim[g])
#endif
		:: else
		fi;
		tf = (st != 0 -> F[i] : 0)
	:: kind[g] == K_REL ->
		if
		:: own[i] == o && (cl[i] & rmask[g]) != 0 ->
			cl[i] = cl[i] & ~rmask[g];
			if
			:: cl[i] == 0 -> own[i] = 0; F[i] = 0
			:: else
			fi;
			st = 1
		:: else
		fi
	:: kind[g] == K_EXT ->
		st = (own[i] == o && (OLD_EXTEND || (cl[i] & BIT(rclaim[g])) != 0) -> 1 : 0)
	:: kind[g] == K_FEN ->
		if
		:: own[i] == o && (FENCE_ANY_CLAIM || (cl[i] & BIT(rclaim[g])) != 0) ->
			if
			:: cnt[i] < rtok[g] -> cnt[i] = rtok[g]
			:: else
			fi;
#if COUNTER_TTL
			cexp[i] = clk + CTTL;
#endif
			if
			:: F[i] < rtok[g] -> F[i] = rtok[g]
			:: else
			fi;
			st = 1
		:: else
		fi
	:: kind[g] == K_HAND ->
		if
		:: own[i] == o && (cl[i] & ~rmask[g]) == 0 ->
			own[i] = OWNER(1); cl[i] = BIT(g); F[i] = 0; st = 1
		:: own[i] == OWNER(1) && cl[i] == BIT(g) -> st = 1
		:: else
		fi
	:: else
	fi
}

inline record(c, i) {
	wt[c] = wt[c] & ~BIT(i);
	if
	:: st != 0 ->
		yes[c] = yes[c] | BIT(i);
		if
		:: st == 2 ->
			fresh[c] = fresh[c] | BIT(i);
			if
			:: hfence[c] != 0 && tf == hfence[c] -> rf[c] = rf[c] | BIT(i)
			:: else
			fi
		:: else
		fi
	:: else -> no[c] = no[c] | BIT(i)
	fi;
	if
	:: op[c] == ACQ && cmax[c] < ctr -> cmax[c] = ctr
	:: else
	fi
}

/* the call of round g to node i is one the client still waits for */
#define WAITED(g, i) (op[(g) / B] != IDLE && cur[(g) / B] == (g) && ((wt[(g) / B] >> (i)) & 1))
/* the call of round g to node i may run now: its client waits for it, it is
   the late call, or it is a release, which nobody waits for */
#define RUNNABLE(g, i) (WAITED(g, i) || (lateg == (g) && latei == (i)) || kind[g] == K_REL)

inline run_call(g, i) {
	pend[g] = pend[g] & ~BIT(i);
	if
	:: lateg == (g) && latei == (i) -> lateg = 255; latei = 0
	:: else
	fi;
	if
	:: out[i] -> st = 3  /* lost */
	:: else -> exec(g, i)
	fi;
	if
	:: op[(g) / B] != IDLE && cur[(g) / B] == (g) && ((wt[(g) / B] >> i) & 1) ->
		if
		:: st == 3 -> wt[(g) / B] = wt[(g) / B] & ~BIT(i)
		:: else -> record((g) / B, i)
		fi;
		try_decide((g) / B)
	:: else
	fi;
	tidy(g)
}

/* the call of the current round of client c runs at node i, but its reply
   is lost or late or an error: the client counts the node as failed */
inline run_then_fail(c, i) {
	faults++;
	pend[cur[c]] = pend[cur[c]] & ~BIT(i);
	wt[c] = wt[c] & ~BIT(i);
	if
	:: !out[i] -> exec(cur[c], i)
	:: else
	fi;
	try_decide(c)
}

/* the call is lost: the client counts the node as failed */
inline lose(c, i) {
	faults++;
	wt[c] = wt[c] & ~BIT(i);
	pend[cur[c]] = pend[cur[c]] & ~BIT(i);
	try_decide(c)
}

/* the call is slow: the client gives up waiting (the node failed, or the
   round decided without it) and the call runs later, at any moment */
inline delay(c, i) {
	lates++;
	lateg = cur[c]; latei = i;
	wt[c] = wt[c] & ~BIT(i);
	try_decide(c)
}

inline run_undo(g, i) {
	upend[g] = upend[g] & ~BIT(i);
	o = (kind[g] == K_HAND -> OWNER(1) : OWNER((g) / B));
	if
	:: out[i]
#if OLD_UNDO
	:: !out[i] && own[i] == o && cl[i] == BIT(rclaim[g]) ->
		own[i] = 0; cl[i] = 0; F[i] = 0
#else
	:: !out[i] && own[i] == o && (cl[i] & BIT(rclaim[g])) != 0 ->
		cl[i] = cl[i] & ~BIT(rclaim[g]);
		if
		:: cl[i] == 0 -> own[i] = 0; F[i] = 0
		:: else
		fi
#endif
	:: else
	fi;
	tidy(g)
}

/* no live belief relies on node i */
#define FREE(i) (((rel[0] & BIT(i)) == 0 || hold[0] != 1) && \
                 ((rel[1] & BIT(i)) == 0 || hold[1] != 1) && \
                 (NC < 3 || (rel[NC - 1] & BIT(i)) == 0 || hold[NC - 1] != 1))

/* a round still deciding counted node i */
#define COUNTED(i) ((((yes[0] | ayes[0]) >> (i)) & 1) || (((yes[1] | ayes[1]) >> (i)) & 1) || \
                    (NC > 2 && (((yes[NC - 1] | ayes[NC - 1]) >> (i)) & 1)))

#define EXPIRABLE(i) (own[i] != 0)

/* node i's key expires: the validity of every belief that relies on it has
   ended before (the belief stays on its Mutex, expired) */
inline expire(i) {
	outlive(i);
	own[i] = 0; cl[i] = 0; F[i] = 0;
	age(i)
}

inline outlive(i) {
	j = 0;
	do
	:: j < NC ->
		if
		:: hold[j] == 1 && ((rel[j] >> (i)) & 1) -> hold[j] = 2; rel[j] = 0
		:: else
		fi;
		j++
	:: else -> break
	od;
	skip
}

/* time has passed node i's keys: rounds that counted it have no validity */
inline age(i) {
	j = 0;
	do
	:: j < NC ->
		if
		:: (op[j] == ACQ || op[j] == EXT || op[j] == HAND) && (yes[j] & BIT(i)) -> late[j] = 1
		:: op[j] == FEN && (ayes[j] & BIT(i)) -> late[j] = 1
		:: else
		fi;
		j++
	:: else -> break
	od;
	skip  /* a d_step may not end on a loop's exit */
}

inline restart(i) {
	restarts++;
	own[i] = 0; cl[i] = 0; F[i] = 0;
#if !DURABLE
	cnt[i] = 0; cexp[i] = 0;
#endif
	out[i] = 1;
	/* its connections break: every waiting call fails */
	rk = 0;
	do
	:: rk < NC ->
		if
		:: (wt[rk] >> i) & 1 ->
			wt[rk] = wt[rk] & ~BIT(i);
			pend[cur[rk]] = pend[cur[rk]] & ~BIT(i);
			try_decide(rk)
		:: else
		fi;
		rk++
	:: else -> break
	od;
	skip  /* a d_step may not end on a loop's exit */
}

/* the holding of client c ended, as lost: its keep-alive or Done noticed
   (the Mutex forgets it; before the fix it kept its token) */
inline end_holding(c) {
	hold[c] = 0; rel[c] = 0;
#if !OLD_REUSE
	hclaim[c] = 0; hfence[c] = 0
#endif
}

/* client c starts an operation */
inline start_acquire(c) {
#if OLD_UNDO
	send(c, K_ACQ1, 1); rclaim[g2] = g2;
#else
	if
	:: hold[c] != 0 -> send(c, K_ACQ2, 1); rclaim[g2] = hclaim[c]
	:: else -> send(c, K_ACQ1, 1); rclaim[g2] = g2
	fi;
#endif
	op[c] = ACQ;
	try_decide(c)
}

inline start_unlock(c) {
#if HANDOVER
	if
	:: c == 0 && !handed ->
		o = started;
		send(c, K_HAND, 1); rclaim[g2] = g2; rmask[g2] = o;
		hold[c] = 0; hclaim[c] = 0; hfence[c] = 0; rel[c] = 0;
		op[c] = HAND;
		try_decide(c)
	:: else ->
#endif
		send(c, K_REL, 0); rmask[g2] = started; cur[c] = 0;
		hold[c] = 0; hclaim[c] = 0; hfence[c] = 0; rel[c] = 0
#if HANDOVER
	fi
#endif
}


/* Symmetry. No node is special, so states that differ only by a renaming
   of the nodes are one: after every step the nodes are sorted by all that
   is known of each (canon), and one state per orbit is stored. */
hidden int sg[9];   /* per node i: sg[3i], sg[3i+1], sg[3i+2] */
hidden byte sx, sy, k;

#define SWAPBIT(m, a, b) if :: (((m) >> (a)) & 1) != (((m) >> (b)) & 1) -> m = m ^ (BIT(a) | BIT(b)) :: else fi

/* the signatures of the three nodes, each a loop over the rounds and the
   clients shared by the three */
inline sigs() {
	k = 0;
	do
	:: k < 3 ->
		sg[3 * k] = own[k] + (cl[k] << 2) + (F[k] << 14) + (cnt[k] << 18) + (out[k] << 22) +
		            ((lateg != 255 && latei == k) -> (1 << 23) : 0) + (cexp[k] << 24);
		sg[3 * k + 1] = 0; sg[3 * k + 2] = 0;
		k++
	:: else -> break
	od;
	j = 0;
	do
	:: j < NR ->
		if
		:: (pend[j] | upend[j]) != 0 ->
			sg[1] = sg[1] + ((pend[j] & 1) << j) + ((upend[j] & 1) << (j + 12));
			sg[4] = sg[4] + (((pend[j] >> 1) & 1) << j) + (((upend[j] >> 1) & 1) << (j + 12));
			sg[7] = sg[7] + (((pend[j] >> 2) & 1) << j) + (((upend[j] >> 2) & 1) << (j + 12))
		:: else
		fi;
		j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < NC ->
		k = 0;
		do
		:: k < 3 ->
			sg[3 * k + 2] = sg[3 * k + 2] + ((((wt[j] >> k) & 1) + (((yes[j] >> k) & 1) << 1) + (((fresh[j] >> k) & 1) << 2) +
			                (((rf[j] >> k) & 1) << 3) + (((no[j] >> k) & 1) << 4) + (((ayes[j] >> k) & 1) << 5) +
			                (((ano[j] >> k) & 1) << 6) + (((rel[j] >> k) & 1) << 7)) << (8 * j));
			k++
		:: else -> break
		od;
		j++
	:: else -> break
	od;
	skip
}

inline swapnodes(a, b) {
	sx = own[a]; own[a] = own[b]; own[b] = sx;
	o = F[a]; F[a] = F[b]; F[b] = o;
	o = cnt[a]; cnt[a] = cnt[b]; cnt[b] = o;
	o = cexp[a]; cexp[a] = cexp[b]; cexp[b] = o;
	o = out[a]; out[a] = out[b]; out[b] = o;
	tmpcl = cl[a]; cl[a] = cl[b]; cl[b] = tmpcl;
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
	:: j < NC ->
		SWAPBIT(wt[j], a, b); SWAPBIT(yes[j], a, b); SWAPBIT(fresh[j], a, b); SWAPBIT(rf[j], a, b);
		SWAPBIT(no[j], a, b); SWAPBIT(ayes[j], a, b); SWAPBIT(ano[j], a, b); SWAPBIT(rel[j], a, b);
		j++
	:: else -> break
	od;
	j = 0;
	do
	:: j < 3 -> tsg = sg[3 * a + j]; sg[3 * a + j] = sg[3 * b + j]; sg[3 * b + j] = tsg; j++
	:: else -> break
	od;
	skip
}

/* node a sorts after node b */
#define AFTER(a, b) (sg[3 * a] > sg[3 * b] || (sg[3 * a] == sg[3 * b] && \
                    (sg[3 * a + 1] > sg[3 * b + 1] || (sg[3 * a + 1] == sg[3 * b + 1] && sg[3 * a + 2] > sg[3 * b + 2]))))

inline canon() {
#if SYMMETRY
	sigs();
	if :: AFTER(0, 1) -> swapnodes(0, 1) :: else fi;
	if :: AFTER(1, 2) -> swapnodes(1, 2) :: else fi;
	if :: AFTER(0, 1) -> swapnodes(0, 1) :: else fi;
#endif
	skip
}

#define IDLE_WITH_ROUND(c) (op[c] == IDLE && used[c] < BUDGET(c))
#if HANDOVER
#define MAY_ACQUIRE(c) ((c) != 1)
#else
#define MAY_ACQUIRE(c) 1
#endif

#define CLIENT(c) \
	:: d_step { IDLE_WITH_ROUND(c) && MAY_ACQUIRE(c) -> start_acquire(c) } \
	:: d_step { EXTEND && IDLE_WITH_ROUND(c) && hold[c] == 1 -> send(c, K_EXT, 1); rclaim[g2] = hclaim[c]; op[c] = EXT; try_decide(c) } \
	:: d_step { UNLOCK && IDLE_WITH_ROUND(c) && hold[c] != 0 -> start_unlock(c) } \
	:: d_step { IDLE_WITH_ROUND(c) && MAY_ACQUIRE(c) && hold[c] != 0 -> end_holding(c); start_acquire(c) } \
	FAULT(c, 0) FAULT(c, 1) FAULT(c, 2)

#define FAULT(c, i) \
	:: d_step { faults < FAULTS && ((wt[c] >> i) & 1) -> run_then_fail(c, i) } \
	:: d_step { faults < FAULTS && ((wt[c] >> i) & 1) -> lose(c, i) } \
	:: d_step { lates < LATES && ((wt[c] >> i) & 1) -> delay(c, i) }

#define NODE(i) \
	:: d_step { EXPIRABLE(i) && COUNTED(i) -> expire(i) } \
	:: d_step { COUNTER_TTL && cnt[i] != 0 -> clk = (clk < cexp[i] -> cexp[i] : clk); cnt[i] = 0; cexp[i] = 0 } \
	:: d_step { restarts < RESTART && !out[i] -> restart(i) } \
	:: d_step { out[i] -> outlive(i); out[i] = 0; age(i) }

/* a call of round g to node i, or its undo, may run now */
#define CALL_READY(g, i) ((((pend[g] >> (i)) & 1) && (RUNNABLE(g, i) || (retried < RETRIES && kind[g] == K_REL && !out[i]))) || \
                          ((upend[g] >> (i)) & 1))
#define PICK(g, i) :: CALL_READY(g, i) -> cg = g; ci = i
#define PICKS(g) PICK(g, 0) PICK(g, 1) PICK(g, 2)

/* Every step is one atomic sequence: its choice, then canon, with no
   state stored in between. A call step first picks the call (cg, ci),
   then what becomes of it, so that the steps of the calls are written
   once. An expiry matters only to the next call at the node, or to a
   round still deciding that counted the node: it is taken just before
   one. */
active proctype system() {
end:
	do
	:: atomic {
		if
		CLIENT(0)
		CLIENT(1)
#if NC > 2
		CLIENT(2)
#endif
		NODE(0)
		NODE(1)
		NODE(2)
		:: if
#if B0 > 0
			PICKS(0)
#endif
#if B0 > 1
			PICKS(1)
#endif
#if B0 > 2
			PICKS(2)
#endif
#if B0 > 3
			PICKS(3)
#endif
#if B1 > 0
			PICKS(4)
#endif
#if B1 > 1
			PICKS(5)
#endif
#if B1 > 2
			PICKS(6)
#endif
#if B1 > 3
			PICKS(7)
#endif
#if NC > 2 && B2 > 0
			PICKS(8)
#endif
#if NC > 2 && B2 > 1
			PICKS(9)
#endif
#if NC > 2 && B2 > 2
			PICKS(10)
#endif
#if NC > 2 && B2 > 3
			PICKS(11)
#endif
		   fi;
		   if
		   :: d_step { ((pend[cg] >> ci) & 1) && RUNNABLE(cg, ci) -> run_call(cg, ci) }
		   :: d_step { COUNTER_TTL && clk < CLKMAX && ((pend[cg] >> ci) & 1) && lateg == cg && latei == ci -> clk++; run_call(cg, ci) }
		   :: d_step { ((pend[cg] >> ci) & 1) && RUNNABLE(cg, ci) && EXPIRABLE(ci) -> expire(ci); run_call(cg, ci) }
		   :: d_step { retried < RETRIES && ((pend[cg] >> ci) & 1) && kind[cg] == K_REL && !out[ci] -> retried++; exec(cg, ci) }
		   :: d_step { (upend[cg] >> ci) & 1 -> run_undo(cg, ci) }
		   :: d_step { ((upend[cg] >> ci) & 1) && EXPIRABLE(ci) -> expire(ci); run_undo(cg, ci) }
		   fi
		fi;
		d_step { canon() }
	}
	od
}
