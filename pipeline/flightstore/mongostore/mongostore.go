// Package mongostore is the flightstore.Store on MongoDB (or any server
// speaking its wire protocol, e.g. FerretDB), as the seed stored its
// predictions: database agile_data_science, collection
// flight_delay_classification_response, one document per request with the
// seed's field names. The document's _id is the request UUID, so an upsert
// of a redelivered request replaces rather than duplicates it. Issued ids
// are kept apart, in flight_delay_classification_issued, so the seed's
// collection holds only predictions.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/datalabhq/datalab/pipeline/flightdelay"
	"github.com/datalabhq/datalab/pipeline/flightstore"
	"github.com/datalabhq/datalab/pipeline/predlog"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The seed's names.
const (
	DefaultDatabase  = "agile_data_science"
	Collection       = "flight_delay_classification_response"
	IssuedCollection = "flight_delay_classification_issued"
)

// Store is a flightstore.Store over a MongoDB client.
type Store struct {
	client      *mongo.Client
	predictions *mongo.Collection
	issued      *mongo.Collection
}

var _ flightstore.Store = (*Store)(nil)

// Open connects to uri (mongodb://host:port[/database], mongodb+srv://…,
// read by pipeline/predlog.ParseDSN); errors never contain its password.
// The database is
// the URI's path, agile_data_science when it has none. Open checks that the
// server answers within the context's deadline.
func Open(ctx context.Context, uri string) (*Store, error) {
	// One parser for every store's DSN: its errors and String never hold
	// the password, and driver errors are scrubbed of it (d.Scrub).
	d, err := predlog.ParseDSN(uri)
	if err != nil {
		return nil, fmt.Errorf("mongo store: %w", err)
	}
	if d.Dialect != predlog.MongoDB {
		return nil, fmt.Errorf("mongo store: %s is not a mongodb:// or mongodb+srv:// URI", d)
	}
	db := d.Database()
	if db == "" {
		db = DefaultDatabase
	}
	client, err := mongo.Connect(options.Client().ApplyURI(d.ConnString()).
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second))
	if err != nil {
		return nil, fmt.Errorf("mongo store %s: %w", d, d.Scrub(err))
	}
	s := &Store{client: client,
		predictions: client.Database(db).Collection(Collection),
		issued:      client.Database(db).Collection(IssuedCollection)}
	if err := s.Ping(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo store %s: %w", d, d.Scrub(err))
	}
	return s, nil
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Close disconnects.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.client.Disconnect(ctx)
}

// document is the stored form: the seed's fields plus _id = UUID.
type document struct {
	ID              string    `bson:"_id"`
	Origin          string    `bson:"Origin"`
	DayOfWeek       int       `bson:"DayOfWeek"`
	DayOfYear       int       `bson:"DayOfYear"`
	DayOfMonth      int       `bson:"DayOfMonth"`
	Dest            string    `bson:"Dest"`
	DepDelay        float64   `bson:"DepDelay"`
	Timestamp       string    `bson:"Timestamp"`
	FlightDate      string    `bson:"FlightDate"`
	Carrier         string    `bson:"Carrier"`
	UUID            string    `bson:"UUID"`
	Distance        float64   `bson:"Distance"`
	Route           string    `bson:"Route"`
	Prediction      int       `bson:"Prediction"`
	PredictionLabel string    `bson:"PredictionLabel"`
	Probability     []float64 `bson:"Probability"`
	Model           string    `bson:"Model"`
	StoredAt        time.Time `bson:"StoredAt"`
}

func asMongoDocument(p flightdelay.Prediction, at time.Time) document {
	return document{ID: p.UUID, Origin: p.Origin, DayOfWeek: p.DayOfWeek, DayOfYear: p.DayOfYear,
		DayOfMonth: p.DayOfMonth, Dest: p.Dest, DepDelay: p.DepDelay, Timestamp: p.Timestamp,
		FlightDate: p.FlightDate, Carrier: p.Carrier, UUID: p.UUID, Distance: p.Distance, Route: p.Route,
		Prediction: p.Prediction, PredictionLabel: p.PredictionLabel, Probability: p.Probability,
		Model: p.Model, StoredAt: at}
}

func (d document) prediction() flightdelay.Prediction {
	return flightdelay.Prediction{Origin: d.Origin, DayOfWeek: d.DayOfWeek, DayOfYear: d.DayOfYear,
		DayOfMonth: d.DayOfMonth, Dest: d.Dest, DepDelay: d.DepDelay, Timestamp: d.Timestamp,
		FlightDate: d.FlightDate, Carrier: d.Carrier, UUID: d.UUID, Distance: d.Distance, Route: d.Route,
		Prediction: d.Prediction, PredictionLabel: d.PredictionLabel, Probability: d.Probability, Model: d.Model}
}

// Issue implements flightstore.Store: an insert whose duplicate-key error
// (already issued) is ignored.
func (s *Store) Issue(ctx context.Context, id string, at time.Time) error {
	if id == "" {
		return flightstore.ErrEmptyID
	}
	_, err := s.issued.InsertOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "IssuedAt", Value: at.UTC()}})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return fmt.Errorf("issue request %s: %w", id, err)
	}
	return nil
}

// Upsert implements flightstore.Store as delete-then-insert by _id rather
// than replace-with-upsert: FerretDB v1.24's SQLite backend stalls on
// replacing existing documents in bulk (its statements are never closed
// and the pool runs dry), and delete + unordered insert are operations
// every MongoDB-wire server handles. Between the two a redelivered
// document is briefly absent (readers see WAIT, not a wrong answer); the
// predictor commits the Kafka offset only after Upsert returns, so a crash
// in between is repaired by redelivery. A duplicate-key error means a
// concurrent writer inserted the same UUID (same content): not an error.
func (s *Store) Upsert(ctx context.Context, docs ...flightdelay.Prediction) error {
	if len(docs) == 0 {
		return nil
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	ids := make(bson.A, 0, len(docs))
	byID := make(map[string]document, len(docs))
	var order []string
	for _, d := range docs {
		if d.UUID == "" {
			return flightstore.ErrEmptyID
		}
		if _, dup := byID[d.UUID]; !dup {
			ids = append(ids, d.UUID)
			order = append(order, d.UUID)
		}
		byID[d.UUID] = asMongoDocument(d, now)
	}
	if _, err := s.predictions.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}); err != nil {
		return fmt.Errorf("store %d predictions: delete previous: %w", len(docs), err)
	}
	insert := make([]any, len(order))
	for i, id := range order {
		insert[i] = byID[id]
	}
	if _, err := s.predictions.InsertMany(ctx, insert, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicateKeys(err) {
		return fmt.Errorf("store %d predictions: %w", len(docs), err)
	}
	return nil
}

// onlyDuplicateKeys reports whether every write error of a bulk insert is
// a duplicate key (code 11000).
func onlyDuplicateKeys(err error) bool {
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return mongo.IsDuplicateKeyError(err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Code != 11000 {
			return false
		}
	}
	return true
}

// Get implements flightstore.Store.
func (s *Store) Get(ctx context.Context, id string) (flightdelay.Prediction, flightstore.Status, error) {
	var d document
	err := s.predictions.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if err == nil {
		return d.prediction(), flightstore.Done, nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return flightdelay.Prediction{}, flightstore.Unknown, fmt.Errorf("get prediction %s: %w", id, err)
	}
	err = s.issued.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	switch {
	case err == nil:
		return flightdelay.Prediction{}, flightstore.Pending, nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return flightdelay.Prediction{}, flightstore.Unknown, nil
	}
	return flightdelay.Prediction{}, flightstore.Unknown, fmt.Errorf("get issued id %s: %w", id, err)
}

// Count implements flightstore.Store.
func (s *Store) Count(ctx context.Context) (int64, error) {
	n, err := s.predictions.CountDocuments(ctx, bson.D{})
	if err != nil {
		return 0, fmt.Errorf("count predictions: %w", err)
	}
	return n, nil
}
