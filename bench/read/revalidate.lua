-- Revalidation: a client that holds a user's series asks again with its ETag; the answer should be 304.
package.path = os.getenv("READ_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local held = dofile(os.getenv("READ_ETAGS"))
not_modified = 0
setup = common.setup
done = common.done

function init(args)
  math.randomseed(os.time() * 100 + tid)
end

function request()
  local entry = held[math.random(1, #held)]
  return wrk.format("GET", entry[1], { ["If-None-Match"] = entry[2] })
end

function response(status, headers, body)
  if status == 304 then
    not_modified = not_modified + 1
  end
end
