/**
 * A trivial HTTP server in its own process (the floor of any HTTP gateway here):
 * answers every request with a small JSON body. `http-echo.ts` prints its port.
 */
import { createServer } from "node:http";

const body = Buffer.from(JSON.stringify({ success: true, rows: [[1, "item 1"]] }));
const server = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
    res.end(body);
  });
});
server.listen(0, "127.0.0.1", () => {
  const a = server.address();
  console.log(typeof a === "object" && a ? a.port : 0);
});
