-- ranges.lua - wrk script: GET random 1 MiB ranges of a file of WRK_SIZE bytes; done()
-- prints one line "WRKJSON {...}" with bytes, duration and latency percentiles.
local size = tonumber(os.getenv("WRK_SIZE"))
local chunk = 1048576
local counter = 0

function setup(thread)
	counter = counter + 1
	thread:set("id", counter)
end

function init(args)
	math.randomseed(1000 + (id or 0))
end

function request()
	local off = math.random(0, size - chunk)
	return wrk.format(nil, nil, { ["Range"] = "bytes=" .. off .. "-" .. (off + chunk - 1) })
end

function done(summary, latency, requests)
	local e = summary.errors
	io.write(string.format('WRKJSON {"bytes": %d, "duration_us": %d, "requests": %d, ' ..
		'"errors": %d, "status_errors": %d, "p50_us": %d, "p99_us": %d}\n',
		summary.bytes, summary.duration, summary.requests,
		e.connect + e.read + e.write + e.timeout, e.status,
		latency:percentile(50), latency:percentile(99)))
end
