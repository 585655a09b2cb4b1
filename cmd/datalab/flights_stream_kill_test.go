package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/sqlstore"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/internal/testwait"
)

// TestPredictorKilledMidStream runs the flight app and the predictor as
// separate `datalab` processes on loopback (the embedded Kafka-protocol
// broker in the test process, a shared SQLite store), posts requests over
// HTTP, SIGKILLs the predictor while it is storing answers, keeps posting,
// restarts it, and checks every issued id is answered exactly once: one
// document per id, nothing more, nothing lost. The predictor commits
// offsets only after the store has the answers, so the restarted member
// is redelivered what the killed one had not committed, and the store
// keeps the first answer of each id.
func TestPredictorKilledMidStream(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the binary and runs three processes")
	}
	model, distances := flighttest.ModelDir(t), flighttest.DistancesPath(t)
	bin := buildDatalab(t)
	b, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "kafka"), Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	storePath := filepath.Join(t.TempDir(), "flights.sqlite")
	common := []string{"--brokers", b.Addr(), "--store", storePath, "--model", model, "--partitions", "3"}
	appAddr, predAddr := testnet.FreeAddr(t), testnet.FreeAddr(t)
	app := startDatalab(t, bin, nil, append([]string{"serve-flights", "--addr", appAddr, "--distances", distances}, common...)...)
	waitHTTP(t, "http://"+appAddr+"/healthz", app)
	predArgs := append([]string{"predictor", "--addr", predAddr, "--group", "kill-test"}, common...)
	pred := startDatalab(t, bin, nil, predArgs...)
	waitHTTP(t, "http://"+predAddr+"/healthz", pred)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := sqlstore.Open(ctx, storePath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	// Post n requests from 4 clients, paced so the kill lands mid-stream.
	const n = 400
	ids := make(chan string, n)
	var posting sync.WaitGroup
	errs := make(chan error, 4)
	for c := range 4 {
		posting.Add(1)
		go func() {
			defer posting.Done()
			for i := c; i < n; i += 4 {
				form := url.Values{"DepDelay": {fmt.Sprint(i%60 - 10)}, "Carrier": {"AA"}, "FlightDate": {"2016-12-25"},
					"Origin": {"ATL"}, "Dest": {"SFO"}}
				id, err := postFlight(ctx, "http://"+appAddr, form)
				if err != nil {
					errs <- err
					return
				}
				ids <- id
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}

	// Kill the predictor once it has stored some answers.
	var before int64
	if !testwait.Poll(60*time.Second, 5*time.Millisecond, func() bool {
		if before, err = st.Count(ctx); err != nil {
			t.Fatal(err)
		}
		return before >= 40
	}) {
		t.Fatalf("the predictor stored %d answers in 60s:\n%s", before, pred.output())
	}
	if err := pred.cmd.Process.Kill(); err != nil { // SIGKILL: no shutdown, no commit
		t.Fatal(err)
	}
	<-pred.done
	if !strings.Contains(fmt.Sprint(pred.err), "killed") {
		t.Fatalf("predictor exit: %v, want killed by SIGKILL", pred.err)
	}
	killedAt, _ := st.Count(ctx)
	posting.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(ids)
	if left := n - int(killedAt); left <= 0 {
		t.Fatalf("every answer was stored before the kill (%d): the kill was not mid-stream", killedAt)
	}
	t.Logf("killed the predictor with %d of %d answers stored (%d when the kill was decided)", killedAt, n, before)

	restarted := startDatalab(t, bin, nil, predArgs...)
	waitHTTP(t, "http://"+predAddr+"/healthz", restarted)
	var issued []string
	for id := range ids {
		issued = append(issued, id)
	}
	if len(issued) != n {
		t.Fatalf("%d ids issued, want %d", len(issued), n)
	}
	for _, id := range issued {
		var status flightstore.Status
		if !testwait.Poll(90*time.Second, 20*time.Millisecond, func() bool {
			if _, status, err = st.Get(ctx, id); err != nil {
				t.Fatal(err)
			}
			return status == flightstore.Done
		}) {
			t.Fatalf("id %s is %v 90s after the restart:\n%s", id, status, restarted.output())
		}
	}
	if got, err := st.Count(ctx); err != nil || got != n {
		t.Fatalf("%d documents for %d issued ids (%v): each must be answered exactly once", got, n, err)
	}
	if pending, err := st.PendingCount(ctx); err != nil || pending != 0 {
		t.Fatalf("%d ids still pending (%v)", pending, err)
	}
}

// postFlight posts the seed form and returns the issued id.
func postFlight(ctx context.Context, base string, form url.Values) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/flights/delays/predict/classify_realtime", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct{ Status, ID string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Status != "OK" {
		return "", fmt.Errorf("POST classify_realtime: HTTP %d %+v (%v)", resp.StatusCode, body, err)
	}
	return body.ID, nil
}
