package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/datalabhq/datalab/flights/flightapp"
	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore/teststores"
	"github.com/datalabhq/datalab/flights/flighttest"
	"github.com/datalabhq/datalab/flights/stream"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/datalabhq/datalab/internal/testwait"
	"github.com/datalabhq/datalab/pipeline/registry"
	"github.com/datalabhq/datalab/pipeline/serve"
)

// flightRegistry is a directory registry holding the two course models as
// versions of "flights": a (Spark 3.3.3), the champion, and b (Spark 3.5.3).
func flightRegistry(t *testing.T) (dir, a, b string) {
	t.Helper()
	ctx := context.Background()
	dir = t.TempDir()
	reg, err := registry.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	va, _, err := reg.Register(ctx, flighttest.ModelDir(t), registry.Version{Model: "flights", Variant: "spark-3.3.3"})
	if err != nil {
		t.Fatal(err)
	}
	vb, _, err := reg.Register(ctx, flighttest.ModelDirSpark353(t), registry.Version{Model: "flights", Variant: "spark-3.5.3"})
	if err != nil {
		t.Fatal(err)
	}
	if va.ID == vb.ID {
		t.Fatal("the two flight models registered as one version")
	}
	if _, _, err := reg.Promote(ctx, "flights", "champion", va.ID, registry.PromoteOptions{}); err != nil {
		t.Fatal(err)
	}
	return dir, va.ID, vb.ID
}

// moveFlightsChampion promotes the champion to version to (forced: the
// test versions have no metrics for the gate), or rolls it back when to
// is "".
func moveFlightsChampion(t *testing.T, dir, to string) {
	t.Helper()
	ctx := context.Background()
	reg, err := registry.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if to == "" {
		_, err = reg.Rollback(ctx, "flights", "champion", "", registry.PromoteOptions{Reason: "test"})
	} else {
		_, _, err = reg.Promote(ctx, "flights", "champion", to, registry.PromoteOptions{Force: true, Reason: "test"})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// metricValues are the values of the series of metric name in prom, keyed
// by their labels ("alias=champion,app=predictor,version=…").
func metricValues(t *testing.T, prom prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			out[strings.Join(labels, ",")] = v
		}
	}
	return out
}

// TestPredictorFollowsRegistryAlias is issue 17's hot swap for the flight
// predictor, on every store: the predictor serves registry:flights@champion
// (the CLI's flightModels, polling every 10 ms) while requests stream in at
// about 500 a second on one partition; the champion is promoted from
// version A to B mid-stream and rolled back. No request is lost or
// dead-lettered, no swap fails, every stored prediction names A or B, and
// in the order the predictor scored them (offset order on the one
// partition, in which the store times never decrease) the versions run
// exactly A…A B…B A…A, every B and every later A stored after its version
// began serving, and each prediction is what its named version gives (the
// two models' probabilities differ). /healthz and /metrics name the version
// serving at the end.
// A predictor that scored with a stale or mixed model, stamped another
// name, or swapped without the Follower would break one of these.
func TestPredictorFollowsRegistryAlias(t *testing.T) {
	sc, dist := flighttest.Fixtures(t)
	teststores.Each(t, func(t *testing.T, ts teststores.Opened) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir, a, b := flightRegistry(t)
		broker, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		defer broker.Close()
		topics := stream.DefaultTopics()
		prod, err := stream.NewProducer([]string{broker.Addr()}, topics.Request)
		if err != nil {
			t.Fatal(err)
		}
		defer prod.Close()
		if err := stream.EnsureTopics(ctx, prod.Client(), 1, topics.All()...); err != nil {
			t.Fatal(err)
		}

		var o predictorOptions
		o.model = "registry:flights@champion"
		o.registry = registryFlags{location: dir, poll: 10 * time.Millisecond, cache: t.TempDir()}
		log := slog.New(slog.DiscardHandler)
		prom := prometheus.NewRegistry()
		models, _, stopModels, err := o.flightModels(ctx, "predictor", prom, log)
		if err != nil {
			t.Fatal(err)
		}
		defer stopModels()
		pr, err := stream.NewPredictor(stream.PredictorConfig{Brokers: []string{broker.Addr()}, Topics: topics,
			Models: models, Store: ts.Store, Logger: log, Registerer: prom})
		if err != nil {
			t.Fatal(err)
		}
		pctx, stopPredictor := context.WithCancel(ctx)
		predictorDone := make(chan struct{})
		go func() { defer close(predictorDone); pr.Run(pctx) }()
		defer func() { stopPredictor(); <-predictorDone }()

		// The stream: issue, publish, every 2 ms, until told to stop.
		forms := []flightdelay.Form{flightdelay.DefaultForm,
			{DepDelay: "-10", Carrier: "DL", FlightDate: "2016-03-01", Origin: "JFK", Dest: "LAX"},
			{DepDelay: "45", Carrier: "UA", FlightDate: "2016-07-04", Origin: "ORD", Dest: "DEN"}}
		enricher := &flightdelay.Enricher{Distances: dist, Scorer: sc}
		var (
			mu   sync.Mutex
			ids  []string // in the order published: the partition's offset order
			reqs = map[string]flightdelay.Request{}
		)
		stopStream, streamDone := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(streamDone)
			tick := time.NewTicker(2 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-stopStream:
					return
				case <-tick.C:
				}
				req, err := enricher.Enrich(forms[i%len(forms)])
				if err == nil {
					err = ts.Store.Issue(ctx, req.UUID, time.Now())
				}
				if err == nil {
					err = prod.Publish(ctx, req)
				}
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				mu.Lock()
				ids = append(ids, req.UUID)
				reqs[req.UUID] = req
				mu.Unlock()
			}
		}()
		defer func() {
			select {
			case <-streamDone:
			default:
				close(stopStream)
				<-streamDone
			}
		}()

		count := func(version string) int {
			n := 0
			for _, s := range ts.Stored(t) {
				if s.Model == version {
					n++
				}
			}
			return n
		}
		waitStored := func(version string, n int) {
			t.Helper()
			testwait.Until(t, 60*time.Second, 20*time.Millisecond, "predictions of "+registry.Short(version), func() bool { return count(version) >= n })
		}
		// serving waits until the predictor's model is version, returning
		// when it began serving and how long after the move that was seen.
		serving := func(version string, moved time.Time) time.Time {
			t.Helper()
			var cur flightdelay.Served
			testwait.Until(t, 30*time.Second, time.Millisecond, "the predictor to serve "+registry.Short(version), func() bool {
				var release func()
				cur, release = models.Snapshot()
				release()
				return cur.Version == version
			})
			t.Logf("%s: serving %s %s after the alias moved", ts.Kind, registry.Short(version), time.Since(moved).Round(time.Millisecond))
			return cur.Since
		}

		waitStored(a, 100)
		moved := time.Now()
		moveFlightsChampion(t, dir, b)
		sinceB := serving(b, moved)
		waitStored(b, 100)
		aBefore := count(a)
		moved = time.Now()
		moveFlightsChampion(t, dir, "")
		sinceA := serving(a, moved)
		waitStored(a, aBefore+100)
		close(stopStream)
		<-streamDone
		mu.Lock()
		published := slices.Clone(ids)
		mu.Unlock()
		testwait.Until(t, 60*time.Second, 20*time.Millisecond, "every request to be stored", func() bool { return len(ts.Stored(t)) >= len(published) })

		stored := ts.Stored(t)
		at := map[string]int{}
		for i, id := range published {
			at[id] = i
		}
		if len(stored) != len(published) {
			t.Fatalf("%d predictions stored for %d requests", len(stored), len(published))
		}
		slices.SortFunc(stored, func(x, y teststores.Stored) int { return at[x.UUID] - at[y.UUID] })
		var runs []string
		for i, s := range stored {
			if _, ok := at[s.UUID]; !ok {
				t.Fatalf("stored %s, never published", s.UUID)
			}
			if s.Model != a && s.Model != b {
				t.Fatalf("prediction %d (%s) names model %q, want version %s or %s", i, s.UUID, s.Model, a, b)
			}
			if i > 0 && s.At.Before(stored[i-1].At) {
				t.Errorf("prediction %d stored at %s, before the one scored before it (%s)", i, s.At, stored[i-1].At)
			}
			if len(runs) == 0 || runs[len(runs)-1] != s.Model {
				runs = append(runs, s.Model)
				since := map[int]time.Time{1: sinceB, 2: sinceA}[len(runs)-1]
				if s.At.Before(since.Truncate(time.Millisecond)) {
					t.Errorf("the first prediction of run %d (%s) was stored at %s, before its version began serving at %s",
						len(runs), registry.Short(s.Model), s.At.Format(time.RFC3339Nano), since.Format(time.RFC3339Nano))
				}
			}
		}
		short := func(vs []string) (out []string) {
			for _, v := range vs {
				out = append(out, registry.Short(v))
			}
			return out
		}
		if want := []string{a, b, a}; !slices.Equal(runs, want) {
			t.Fatalf("versions in scoring order run %v, want exactly %v", short(runs), short(want))
		}
		// Each prediction is the one its named version gives: scored and
		// named under one snapshot (the two models' probabilities differ).
		scorerB, err := flightdelay.LoadScorer(flighttest.ModelDirSpark353(t))
		if err != nil {
			t.Fatal(err)
		}
		scorers := map[string]*flightdelay.Scorer{a: sc, b: scorerB}
		for _, s := range stored {
			doc, _, err := ts.Store.Get(ctx, s.UUID)
			if err != nil {
				t.Fatal(err)
			}
			want, err := scorers[s.Model].Score(reqs[s.UUID])
			if err != nil {
				t.Fatal(err)
			}
			if doc.Prediction != want.Prediction || !slices.Equal(doc.Probability, want.Probability) {
				t.Fatalf("prediction %s names version %s but is %d %v; that version gives %d %v",
					s.UUID, registry.Short(s.Model), doc.Prediction, doc.Probability, want.Prediction, want.Probability)
			}
		}
		if st := pr.Stats(); st.DeadLettered != 0 {
			t.Errorf("predictor stats %+v: requests dead-lettered", st)
		}
		t.Logf("%s: %d predictions, A→B at %s, B→A at %s", ts.Kind, len(stored), sinceB.Format(time.RFC3339Nano), sinceA.Format(time.RFC3339Nano))

		info := metricValues(t, prom, serve.ModelInfoMetric)
		if want := "alias=champion,app=predictor,version=" + registry.Short(a); len(info) != 1 || info[want] != 1 {
			t.Errorf("%s: %v, want only {%s} 1", serve.ModelInfoMetric, info, want)
		}
		if got := metricValues(t, prom, serve.ModelSwapsMetric); got["app=predictor"] != 2 {
			t.Errorf("%s: %v, want 2", serve.ModelSwapsMetric, got)
		}
		if got := metricValues(t, prom, serve.ModelSwapFailuresMetric); got["app=predictor"] != 0 {
			t.Errorf("%s: %v, want 0", serve.ModelSwapFailuresMetric, got)
		}
		rec := httptest.NewRecorder()
		pr.HealthHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		var h struct {
			ModelVersion string    `json:"model_version"`
			Alias        string    `json:"alias"`
			Since        time.Time `json:"since"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &h); err != nil || h.ModelVersion != a || h.Alias != "champion" || !h.Since.Equal(sinceA) {
			t.Errorf("/healthz %s (%v), want model_version %s, alias champion, since %s", rec.Body, err, a, sinceA.Format(time.RFC3339Nano))
		}
	})
}

// TestPredictorRegistryEndpoint runs `datalab predictor --model
// registry:flights@champion` (runPredictor, as the command does): its
// /healthz and /metrics name the version serving, and follow a promotion.
func TestPredictorRegistryEndpoint(t *testing.T) {
	dir, a, b := flightRegistry(t)
	broker, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	o := predictorOptions{group: "registry-endpoint-test", addr: "127.0.0.1:0"}
	o.model, o.store, o.brokers = "registry:flights@champion", filepath.Join(t.TempDir(), "flights.sqlite"), broker.Addr()
	o.topics, o.partitions = stream.DefaultTopics(), 1
	o.registry = registryFlags{location: dir, poll: 20 * time.Millisecond, cache: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, _ := startPredictorEndpoint(t, ctx, o, slog.New(slog.DiscardHandler))
	waitServing(t, base, "predictor", a, 0)
	moveFlightsChampion(t, dir, b)
	waitServing(t, base, "predictor", b, 1)
}

// waitServing waits until the /healthz of the server at base names
// version, then checks it names the alias and since, and that /metrics has
// datalab_model_info for that version of app alone, swaps version changes,
// no failed swap and the last load time.
func waitServing(t *testing.T, base, app, version string, swaps int) {
	t.Helper()
	var body string
	testwait.Until(t, 30*time.Second, 20*time.Millisecond, "/healthz to name "+registry.Short(version), func() bool {
		_, body = getBody(t, base+"/healthz")
		return strings.Contains(body, `"model_version":"`+version+`"`)
	})
	for _, want := range []string{`"alias":"champion"`, `"since":"`, `"model":"` + version + `"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/healthz %s: no %s", body, want)
		}
	}
	_, metrics := getBody(t, base+"/metrics")
	info := serve.ModelInfoMetric + `{alias="champion",app="` + app + `",version="` + registry.Short(version) + `"} 1`
	counts := []string{fmt.Sprintf(`%s{app="%s"} %d`, serve.ModelSwapsMetric, app, swaps),
		fmt.Sprintf(`%s{app="%s"} 0`, serve.ModelSwapFailuresMetric, app), fmt.Sprintf(`%s{app="%s"} `, serve.ModelLoadSecondsMetric, app)}
	if !strings.Contains(metrics, info) || strings.Count(metrics, serve.ModelInfoMetric+"{") != 1 ||
		!strings.Contains(metrics, counts[0]) || !strings.Contains(metrics, counts[1]) || !strings.Contains(metrics, counts[2]) {
		t.Errorf("/metrics: want exactly %s and %v; got\n%s", info, counts, grepLines(metrics, "datalab_model_"))
	}
}

// grepLines keeps the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestKafkaServeFlightsFollowsAlias runs the real `datalab serve-flights`
// with DATALAB_FLIGHT_MODEL=registry:flights@champion and DATALAB_REGISTRY,
// and moves the alias with `datalab models promote`: /healthz, /metrics
// and the synchronous API's X-Model-Version follow it, and `datalab models
// history` shows when the app began serving each version.
func TestKafkaServeFlightsFollowsAlias(t *testing.T) {
	dir, a, b := flightRegistry(t)
	bin := buildDatalab(t)
	broker, err := stream.StartBroker(stream.BrokerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	appAddr := testnet.FreeAddr(t)
	env := []string{"DATALAB_REGISTRY=" + dir, "DATALAB_MODEL_CACHE=" + t.TempDir(),
		"DATALAB_FLIGHT_MODEL=registry:flights@champion", "DATALAB_FLIGHT_DISTANCES=" + flighttest.DistancesPath(t),
		"DATALAB_FLIGHT_STORE=" + filepath.Join(t.TempDir(), "flights.sqlite"), "DATALAB_BROKERS=" + broker.Addr()}
	app := startDatalab(t, bin, env, "serve-flights", "--addr", appAddr, "--partitions", "1", "--registry-poll", "50ms")
	base := "http://" + appAddr
	waitHTTP(t, base+"/healthz", app)
	serving := func(version string, swaps int) {
		t.Helper()
		waitServing(t, base, "flights", version, swaps)
		resp, err := http.PostForm(base+"/api/v1/flights/predict", url.Values{"DepDelay": {"5"}, "Carrier": {"AA"},
			"FlightDate": {"2016-12-25"}, "Origin": {"ATL"}, "Dest": {"SFO"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get(flightapp.ModelVersionHeader); resp.StatusCode != 200 || got != version {
			t.Errorf("POST /api/v1/flights/predict: %d, %s %q, want %s", resp.StatusCode, flightapp.ModelVersionHeader, got, version)
		}
	}
	serving(a, 0)
	datalab := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "DATALAB_REGISTRY="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("datalab %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	datalab("models", "promote", "flights", registry.Short(b), "--force", "--reason", "test")
	serving(b, 1)
	history := datalab("models", "history", "flights")
	for _, v := range []string{a, b} {
		if !strings.Contains(history, ":flights:") || !strings.Contains(history, "began serving "+registry.Short(v)+" (@champion)") {
			t.Errorf("history does not show the app serving %s:\n%s", registry.Short(v), history)
		}
	}
}
