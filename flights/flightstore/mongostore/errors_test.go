package mongostore

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/flights/flightstore/mongostore/ferrettest"
	"github.com/datalabhq/datalab/flights/flightstore/storetest"
)

// TestDataErrorsArePermanent classifies the driver's real errors from an
// embedded FerretDB: write errors (a duplicate _id, alone and in an
// unordered bulk insert) are data errors; the server going away, a
// deadline and cancellation are not.
func TestDataErrorsArePermanent(t *testing.T) {
	srv := ferrettest.Start(t)
	ctx := context.Background()
	s, err := Open(ctx, srv.URI())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	coll := s.client.Database(DefaultDatabase).Collection("errors_test")
	id := uuid.NewString()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}}); err != nil {
		t.Fatal(err)
	}
	check := func(name string, err error, want bool) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		if got := flightstore.IsPermanent(flightstore.PermanentIf(err, dataError)); got != want {
			t.Errorf("%s: %v (%T): permanent %v, want %v", name, err, err, got, want)
		}
	}
	_, err = coll.InsertOne(ctx, bson.D{{Key: "_id", Value: id}})
	check("duplicate _id", err, true)
	_, err = coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: uuid.NewString()}}, bson.D{{Key: "_id", Value: id}}},
		options.InsertMany().SetOrdered(false))
	check("duplicate _id in a bulk insert", err, true)

	short, cancel := context.WithCancel(ctx)
	cancel()
	_, err = coll.InsertOne(short, bson.D{{Key: "_id", Value: uuid.NewString()}})
	check("cancelled", err, false)

	srv.Stop()
	down, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err = s.Upsert(down, storetest.Doc(uuid.NewString(), 1))
	check("server down", err, false)
}
