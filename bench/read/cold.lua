-- Cold: every request a user not asked for before in this server's life (threads take interleaved ids),
-- so each one misses any cache. read.sh restarts the server before each cold run.
package.path = os.getenv("READ_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local users = tonumber(os.getenv("READ_USERS"))
local threadCount = tonumber(os.getenv("READ_THREADS"))
local interval = os.getenv("READ_INTERVAL")
local sent = 0
setup = common.setup
done = common.done

function request()
  local user = (tid + sent * threadCount) % users + 1
  sent = sent + 1
  return wrk.format("GET", "/api/users/" .. user .. "/asset-series?interval=" .. interval)
end
