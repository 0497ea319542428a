-- fence: commit a fencing token where the owner still holds the lock.
--
-- KEYS[1]  the lock key
-- KEYS[2]  the lock's fencing counter (same hash slot as KEYS[1])
-- ARGV[1]  the owner prefix P
-- ARGV[2]  the token T, in decimal (under 2^53, exact in a Lua number)
-- ARGV[3]  the token T, as 16 hex digits
-- ARGV[4]  the claim c of the holding the token is for (see acquire.lua)
-- ARGV[5]  the counter TTL in milliseconds
--
-- When the key is P's and c is among its claims, the counter becomes
-- max(counter, T) with the counter TTL (set again even when the counter
-- was higher: it only ever lives longer), the key's token F becomes
-- max(F, T), its TTL unchanged, and it returns 1: an acquisition that later refreshes this
-- key and finds T there knows that the key has been P's since T was
-- committed, unless this call came late, after the key had expired and
-- been written again for c (core allows for that: see policy.reuseQuorum).
-- Returns 0, changing nothing, when the key is missing, another owner's,
-- or not claimed by c: a late commit of a failed attempt never marks a
-- later holding's key.
--
-- Safe to repeat: both are maxima, and the TTL is set again.
local v = redis.call('GET', KEYS[1])
local p = ARGV[1]
if not v or #v < #p + 18 or string.sub(v, 1, #p) ~= p then return 0 end
local k = tonumber(string.sub(v, -2), 16)
if not k or #v ~= #p + 16 * k + 18 then return 0 end
local claimed = false
for i = #p + 1, #p + 16 * k, 16 do
  if string.sub(v, i, i + 15) == ARGV[4] then claimed = true end
end
if not claimed then return 0 end
local n = redis.call('GET', KEYS[2])
if not n or tonumber(n) < tonumber(ARGV[2]) then n = ARGV[2] end
redis.call('SET', KEYS[2], n, 'PX', ARGV[5])
if string.sub(v, -18, -3) < ARGV[3] then
  redis.call('SETRANGE', KEYS[1], #v - 18, ARGV[3])
end
return 1
