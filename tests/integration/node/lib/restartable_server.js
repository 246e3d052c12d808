'use strict';
// A loopback server a test can take away and bring back on the same port: stop() closes the
// listener (new connections are refused) and cuts every open connection, start(port) listens
// again. Shared by the peers that tests make go away: the TCP proxy in front of Prometheus
// (keda.test.js) and the fake Kubernetes API server (kube_api.test.js).

const net = require('node:net');

class RestartableServer {
  // `createServer()` makes a fresh net.Server (or http.Server) for each start().
  constructor(createServer) {
    this.createServer = createServer;
    this.sockets = new Set();
    this.port = 0;
    this.server = null;
  }

  // Tracks `socket` so that stop() cuts it too (a connection the server did not accept, such
  // as a proxy's upstream).
  track(socket) {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  // Listens on `port` (0: any; the same port again after stop()).
  start(port = 0) {
    this.server = this.createServer();
    this.server.on('connection', (socket) => this.track(socket));
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.port = this.server.address().port;
        resolve();
      });
    });
  }

  // Goes away: the listener closes (connection refused) and open connections are cut.
  stop() {
    const closed = new Promise((resolve) => this.server.close(resolve));
    for (const socket of this.sockets) socket.destroy();
    return closed;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }
}

// A TCP proxy to 127.0.0.1:`targetPort` that can go away and come back on the same port: a
// peer as gpufitd sees it when the network or the peer itself is down for a while.
class TcpProxy extends RestartableServer {
  constructor(targetPort) {
    super(() => net.createServer((client) => {
      const upstream = net.connect(targetPort, '127.0.0.1');
      this.track(upstream);
      for (const s of [client, upstream]) {
        s.on('error', () => { client.destroy(); upstream.destroy(); });
      }
      client.pipe(upstream).pipe(client);
    }));
  }
}

module.exports = {RestartableServer, TcpProxy};
