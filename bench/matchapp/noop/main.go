// Command noop is the floor of the match-app benchmark (bench/matchapp/run.sh):
// a Go HTTP server that answers every request with a fixed prediction-sized
// JSON body and does nothing else — no model, no log, no middleware. Its
// open-loop latencies are what the machine, loopback and the load generator
// cost by themselves; its wrk throughput is the most any server could show
// with wrk on the same cores.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
)

// body is the size and shape of a served form3 answer.
const body = `{"home":"Argentina","away":"France","neutral":true,"outcome":"home_win","winner":"Argentina",` +
	`"probability":0.4921,"probabilities":{"away_win":0.2472,"draw":0.2607,"home_win":0.4921},` +
	`"model_version":"760c98021de4b0f9","variant":"form3","server_time":"2026-12-07T19:00:00.123456789Z"}` + "\n"

func main() {
	addr := flag.String("addr", "127.0.0.1:18183", "listen address")
	flag.Parse()
	log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, "ok\n")
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	})))
}
