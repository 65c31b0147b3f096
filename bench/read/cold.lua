-- Cold: every request a user not asked for before in this server's life (threads take interleaved ids
-- from READ_FIRST_USER on), so each one misses any cache. read.sh restarts the server before each
-- first cold run, and starts the second one on the same server half-way through the ids.
package.path = os.getenv("READ_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local users = tonumber(os.getenv("READ_USERS"))
local threadCount = tonumber(os.getenv("READ_THREADS"))
local interval = os.getenv("READ_INTERVAL")
local first = tonumber(os.getenv("READ_FIRST_USER") or "0")
local sent = 0
setup = common.setup
done = common.done

function request()
  local user = (first + tid + sent * threadCount) % users + 1
  sent = sent + 1
  return wrk.format("GET", "/api/users/" .. user .. "/asset-series" .. common.query(interval))
end
