-- HTTP/1.1 pipelining for wrk: every write carries PIPELINE_DEPTH (default 16) GET requests,
-- and wrk counts each response as one request.
local depth = tonumber(os.getenv("PIPELINE_DEPTH") or "16")
local batch

function init(args)
   local reqs = {}
   for i = 1, depth do
      reqs[i] = wrk.format(nil)
   end
   batch = table.concat(reqs)
end

function request()
   return batch
end

dofile((os.getenv("BENCH_LIB") or "bench/lib") .. "/report.lua")
