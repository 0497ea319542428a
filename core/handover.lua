-- handover: pass the lock from one owner to another in one step.
--
-- KEYS[1]  the lock key
-- ARGV[1]  the new owner's prefix
-- ARGV[2]  the hand-over round's nonce n
-- ARGV[3]  the new owner's TTL in milliseconds
-- ARGV[4]  the old owner's prefix
-- ARGV[5]  the lowest nonce of the old owner to pass on
-- ARGV[6]  the highest nonce of the old owner to pass on
--
-- When the key is the old owner's (see acquire.lua for its value) and
-- every one of its claims lies in the range (a release would delete it),
-- the key becomes the new owner's with the single claim n, no token and
-- the new TTL, and it returns 1. The lock is never free in between, so no
-- release is announced. A failed hand-over round is undone like a failed
-- acquisition (see undo.lua). Otherwise it changes nothing and returns 0.
--
-- Safe to repeat: a repeat finds the key the new owner's with the claim n
-- and returns 1 again.
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local function claims(p)
  if #v < #p + 18 or string.sub(v, 1, #p) ~= p then return nil end
  local k = tonumber(string.sub(v, -2), 16)
  if not k or #v ~= #p + 16 * k + 18 then return nil end
  return string.sub(v, #p + 1, #p + 16 * k)
end
local old = claims(ARGV[4])
if old then
  for i = 1, #old, 16 do
    local c = string.sub(old, i, i + 15)
    if c < ARGV[5] or c > ARGV[6] then return 0 end
  end
  redis.call('SET', KEYS[1], ARGV[1] .. ARGV[2] .. '000000000000000001', 'PX', ARGV[3])
  return 1
end
local new = claims(ARGV[1])
if new and new == ARGV[2] then return 1 end
return 0
