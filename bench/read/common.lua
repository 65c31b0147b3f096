-- Shared by the read bench's wrk scripts: thread numbering and one result line at the end.
local common = {}
local threads = {}
local counter = 0
local from = os.getenv("READ_FROM")

-- The query of every request: the interval, and the first day when read.sh was given --span-days.
function common.query(interval)
  if from and from ~= "" then
    return "?interval=" .. interval .. "&from=" .. from
  end
  return "?interval=" .. interval
end

function common.setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

-- One line read.sh parses: requests/s, p50 ms, p99 ms, requests, errors (socket errors and answers other than 2xx/3xx), 304 answers.
function common.done(summary, latency)
  local e = summary.errors
  local notModified = 0
  for _, thread in ipairs(threads) do
    notModified = notModified + (thread:get("not_modified") or 0)
  end
  io.write(string.format("RESULT %.0f %.2f %.2f %d %d %d\n",
    summary.requests / (summary.duration / 1000000), latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, e.connect + e.read + e.write + e.timeout + e.status, notModified))
end

return common
