package mongostore

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/mongostore/ferrettest"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
	"github.com/datalabhq/datalab/internal/testnet"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ferret runs an embedded FerretDB (MongoDB wire protocol, SQLite backend in
// dir) on addr until the returned stop is called (ferrettest, shared with
// the tests of the packages that write through the store).
func ferret(t *testing.T, addr, dir string) (stop func()) {
	t.Helper()
	return ferrettest.StartAt(t, addr, dir).Stop
}

func TestFerretDB(t *testing.T) {
	addr, dir := testnet.FreeAddr(t), t.TempDir()
	stop := ferret(t, addr, dir)
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, "mongodb://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Run(t, s)

	// The documents carry the seed's field names, in the seed's database
	// and collection, with _id = UUID.
	var raw bson.M
	id := uuid.NewString()
	if err := s.Issue(ctx, id, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Upsert(ctx, storetest.Doc(id, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.client.Database(DefaultDatabase).Collection(Collection).FindOne(ctx, bson.D{{Key: "UUID", Value: id}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"_id", "Origin", "DayOfWeek", "DayOfYear", "DayOfMonth", "Dest", "DepDelay", "Timestamp",
		"FlightDate", "Carrier", "UUID", "Distance", "Route", "Prediction"} {
		if _, ok := raw[f]; !ok {
			t.Errorf("stored document lacks %s: %v", f, raw)
		}
	}
	if raw["_id"] != id || raw["Route"] != "ATL-SFO" {
		t.Fatalf("stored document %v", raw)
	}
}

// TestFerretDBRestart stops the server under the store: calls fail while it
// is down (the predictor retries them) and succeed once it is back on the
// same address, with the data kept.
func TestFerretDBRestart(t *testing.T) {
	addr, dir := testnet.FreeAddr(t), t.TempDir()
	stop := ferret(t, addr, dir)
	ctx := context.Background()
	s, err := Open(ctx, "mongodb://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, second := uuid.NewString(), uuid.NewString()
	for _, id := range []string{first, second} {
		if err := s.Issue(ctx, id, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Upsert(ctx, storetest.Doc(first, 0)); err != nil {
		t.Fatal(err)
	}
	stop()
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	err = s.Upsert(short, storetest.Doc(uuid.NewString(), 1))
	cancel()
	if err == nil {
		t.Fatal("upsert succeeded with the server down")
	}
	stop = ferret(t, addr, dir)
	defer stop()
	var lastErr error
	for i := 0; i < 50; i++ {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		lastErr = s.Upsert(c, storetest.Doc(second, 2))
		cancel()
		if lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("no reconnect after restart: %v", lastErr)
	}
	for _, id := range []string{first, second} {
		if _, st, err := s.Get(ctx, id); err != nil || st != flightstore.Done {
			t.Fatalf("%s after restart: %v %v", id, st, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Open(ctx, "postgres://x"); err == nil {
		t.Fatal("postgres URI accepted")
	}
	_, err := Open(ctx, fmt.Sprintf("mongodb://%s", testnet.FreeAddr(t)))
	if err == nil {
		t.Fatal("no server, no error")
	}
}

// ferretStore runs a FerretDB for the test and opens a store on it with
// policy p; both stop when the test ends.
func ferretStore(t *testing.T, p flightstore.Policy) *Store {
	t.Helper()
	addr := testnet.FreeAddr(t)
	stop := ferret(t, addr, t.TempDir())
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, "mongodb://"+addr+"/", WithPolicy(p))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestFerretDBAcceptUnissued: with the option, answers for ids the app
// never issued are stored.
func TestFerretDBAcceptUnissued(t *testing.T) {
	storetest.RunAcceptUnissued(t, ferretStore(t, flightstore.Policy{AcceptUnissued: true}))
}

// TestFerretDBExpiry is the bounded-growth test on FerretDB: 10,000 issued
// ids never answered are removed by the explicit cleanup after the TTL.
func TestFerretDBExpiry(t *testing.T) {
	storetest.RunExpiry(t, func(t *testing.T, p flightstore.Policy) storetest.ExpiringStore {
		return ferretStore(t, p)
	})
}

// TestFerretDBHasNoTTLIndex records why the cleanup is explicit: FerretDB
// v1.24 refuses a TTL index. If this starts failing, the server learnt
// TTL indexes and the cleanup could become one.
func TestFerretDBHasNoTTLIndex(t *testing.T) {
	s := ferretStore(t, flightstore.Policy{})
	_, err := s.issued.Indexes().CreateOne(context.Background(), mongo.IndexModel{
		Keys: bson.D{{Key: "Expiry", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(60)})
	if err == nil || !strings.Contains(err.Error(), "expireAfterSeconds") {
		t.Fatalf("TTL index on FerretDB: %v, want not implemented", err)
	}
}

// TestFerretDBScan: the time-window read of drift monitoring on FerretDB.
func TestFerretDBScan(t *testing.T) {
	storetest.RunScan(t, func(t *testing.T, p flightstore.Policy) flightstore.Store {
		return ferretStore(t, p)
	})
}
