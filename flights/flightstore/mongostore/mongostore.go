// Package mongostore is the flightstore.Store on MongoDB (or any server
// speaking its wire protocol, e.g. FerretDB), as the seed stored its
// predictions: database agile_data_science, collection
// flight_delay_classification_response, one document per request with the
// seed's field names. The document's _id is the request UUID, so an upsert
// of a redelivered request can never duplicate it. Issued ids are kept
// apart, in flight_delay_classification_issued, so the seed's collection
// holds only predictions.
//
// Expired issued ids are removed by an explicit, periodic cleanup (in
// batches of CleanupBatch), not by a TTL index: FerretDB v1.24 refuses the
// expireAfterSeconds index option ("not implemented yet"), and one code
// path that runs on both servers is the one the tests exercise.
package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/datalabhq/datalab/flights/flightdelay"
	"github.com/datalabhq/datalab/flights/flightstore"
	"github.com/datalabhq/datalab/pipeline/sqldb"
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
	// policy decides which answers Upsert stores and when issued ids expire.
	policy flightstore.Policy
	// stopCleanup ends the background expiry cleanup.
	stopCleanup func()
}

// Option configures Open.
type Option func(*Store)

// WithPolicy sets which answers the store records and when issued ids
// expire (flightstore.Policy; the zero Policy is the default).
func WithPolicy(p flightstore.Policy) Option {
	return func(s *Store) { s.policy = p }
}

var _ flightstore.Store = (*Store)(nil)

// Open connects to uri (mongodb://host:port[/database], mongodb+srv://…,
// read by pipeline/sqldb.ParseDSN); errors never contain its password.
// The database is
// the URI's path, agile_data_science when it has none. Open checks that the
// server answers within the context's deadline, and creates the indexes the
// expiry cleanup (issued ids by IssuedAt) and Scan (predictions by
// StoredAt) read.
func Open(ctx context.Context, uri string, opts ...Option) (*Store, error) {
	// One parser for every store's DSN: its errors and String never hold
	// the password, and driver errors are scrubbed of it (d.Scrub).
	d, err := sqldb.ParseDSN(uri)
	if err != nil {
		return nil, fmt.Errorf("mongo store: %w", err)
	}
	if d.Dialect != sqldb.MongoDB {
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
	for _, o := range opts {
		o(s)
	}
	if err := s.Ping(ctx); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo store %s: %w", d, d.Scrub(err))
	}
	if _, err := s.issued.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "IssuedAt", Value: 1}}}); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo store %s: index %s.IssuedAt: %w", d, IssuedCollection, d.Scrub(err))
	}
	// Scan and Models read a time window of predictions in time order.
	if _, err := s.predictions.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "StoredAt", Value: 1}, {Key: "_id", Value: 1}}}); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongo store %s: index %s.StoredAt: %w", d, Collection, d.Scrub(err))
	}
	s.stopCleanup = flightstore.StartCleanup(s.policy, IssuedCollection, s.RemoveExpired)
	return s, nil
}

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return s.client.Ping(ctx, nil) }

// Close stops the background cleanup and disconnects.
func (s *Store) Close() error {
	if s.stopCleanup != nil {
		s.stopCleanup()
	}
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

// Upsert implements flightstore.Store: it reads what both collections hold
// for the batch's ids, applies the policy to each answer, and inserts the
// admitted ones (unordered). Stored answers are never replaced, so there is
// no delete and no window in which a stored answer is absent. A
// duplicate-key error means a concurrent writer (another predictor during
// a rebalance) inserted the same UUID first: its answer is the first and
// stays, as Admit would decide. MongoDB has no transaction here (FerretDB
// v1.24 has none): an id can expire between the read and the insert, and
// then its answer is stored — it was on time when read.
func (s *Store) Upsert(ctx context.Context, docs ...flightdelay.Prediction) error {
	if len(docs) == 0 {
		return nil
	}
	now := s.policy.Clock().UTC().Truncate(time.Millisecond)
	ids := make(bson.A, 0, len(docs))
	last := make(map[string]flightdelay.Prediction, len(docs))
	var order []string
	for _, d := range docs {
		if d.UUID == "" {
			return flightstore.ErrEmptyID
		}
		if _, dup := last[d.UUID]; !dup {
			ids = append(ids, d.UUID)
			order = append(order, d.UUID)
		}
		last[d.UUID] = d
	}
	held, err := s.held(ctx, ids)
	if err != nil {
		return fmt.Errorf("store %d predictions: read their requests: %w", len(docs), err)
	}
	var insert []any
	var refused []error
	for _, id := range order {
		ok, err := s.policy.Admit(last[id], held[id])
		if err != nil {
			refused = append(refused, err)
		} else if ok {
			insert = append(insert, asMongoDocument(last[id], now))
		}
	}
	if refused != nil {
		return fmt.Errorf("store %d predictions: %d refused: %w", len(docs), len(refused), errors.Join(refused...))
	}
	if len(insert) == 0 {
		return nil
	}
	if _, err := s.predictions.InsertMany(ctx, insert, options.InsertMany().SetOrdered(false)); err != nil && !onlyDuplicateKeys(err) {
		return fmt.Errorf("store %d predictions: %w", len(docs), flightstore.PermanentIf(err, dataError))
	}
	return nil
}

// held reads what the store holds for ids: Done with the stored answer,
// Pending with the issue time, or (absent from the map) Unknown.
func (s *Store) held(ctx context.Context, ids bson.A) (map[string]flightstore.Held, error) {
	out := make(map[string]flightstore.Held, len(ids))
	in := bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}
	cur, err := s.predictions.Find(ctx, in)
	if err != nil {
		return nil, err
	}
	var done []document
	if err := cur.All(ctx, &done); err != nil {
		return nil, err
	}
	for _, d := range done {
		out[d.ID] = flightstore.Held{Status: flightstore.Done, Doc: d.prediction()}
	}
	if len(out) == len(ids) {
		return out, nil
	}
	cur, err = s.issued.Find(ctx, in)
	if err != nil {
		return nil, err
	}
	var issued []issuedDoc
	if err := cur.All(ctx, &issued); err != nil {
		return nil, err
	}
	for _, d := range issued {
		if _, ok := out[d.ID]; !ok {
			out[d.ID] = flightstore.Held{Status: flightstore.Pending, IssuedAt: d.IssuedAt}
		}
	}
	return out, nil
}

// issuedDoc is an issued id.
type issuedDoc struct {
	ID       string    `bson:"_id"`
	IssuedAt time.Time `bson:"IssuedAt"`
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
	var is issuedDoc
	err = s.issued.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&is)
	switch {
	case err == nil:
		return flightdelay.Prediction{}, s.policy.PendingStatus(is.IssuedAt), nil
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

// PendingCount is the number of issued ids without an answer, expired or
// not, still in the issued collection.
func (s *Store) PendingCount(ctx context.Context) (int64, error) {
	cur, err := s.issued.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return 0, fmt.Errorf("count pending requests: %w", err)
	}
	var issued []issuedDoc
	if err := cur.All(ctx, &issued); err != nil {
		return 0, fmt.Errorf("count pending requests: %w", err)
	}
	var n int64
	for start := 0; start < len(issued); start += CleanupBatch {
		ids := make(bson.A, 0, CleanupBatch)
		for _, d := range issued[start:min(start+CleanupBatch, len(issued))] {
			ids = append(ids, d.ID)
		}
		done, err := s.predictions.CountDocuments(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return 0, fmt.Errorf("count pending requests: %w", err)
		}
		n += int64(len(ids)) - done
	}
	return n, nil
}

// CleanupBatch bounds the issued ids one cleanup round deletes.
const CleanupBatch = 1000

// RemoveExpired deletes the issued ids older than the policy's cutoff,
// CleanupBatch at a time until none is left, and returns how many it
// deleted. Issued records of answered ids go too (an answer is found by
// its own document); predictions are kept. It does nothing when ids never
// expire.
func (s *Store) RemoveExpired(ctx context.Context) (int64, error) {
	cutoff := s.policy.Cutoff()
	if cutoff.IsZero() {
		return 0, nil
	}
	old := bson.D{{Key: "IssuedAt", Value: bson.D{{Key: "$lt", Value: cutoff.UTC()}}}}
	var total int64
	for {
		cur, err := s.issued.Find(ctx, old, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(CleanupBatch))
		if err != nil {
			return total, fmt.Errorf("remove expired requests: %w", err)
		}
		var batch []issuedDoc
		if err := cur.All(ctx, &batch); err != nil {
			return total, fmt.Errorf("remove expired requests: %w", err)
		}
		if len(batch) == 0 {
			return total, nil
		}
		ids := make(bson.A, len(batch))
		for i, d := range batch {
			ids[i] = d.ID
		}
		res, err := s.issued.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
		if err != nil {
			return total, fmt.Errorf("remove expired requests: %w", err)
		}
		total += res.DeletedCount
		if len(batch) < CleanupBatch {
			return total, nil
		}
	}
}

// ScanBatch is how many documents one round trip of Scan's cursor brings.
const ScanBatch = 1000

// window is the filter of a Window's predictions.
func window(w flightstore.Window) bson.D {
	var at bson.D
	if !w.Since.IsZero() {
		at = append(at, bson.E{Key: "$gte", Value: w.Since.UTC()})
	}
	if !w.Until.IsZero() {
		at = append(at, bson.E{Key: "$lt", Value: w.Until.UTC()})
	}
	f := bson.D{}
	if at != nil {
		f = append(f, bson.E{Key: "StoredAt", Value: at})
	}
	if w.Model != "" {
		f = append(f, bson.E{Key: "Model", Value: w.Model})
	}
	return f
}

// Scan implements flightstore.Store: a cursor sorted by (StoredAt, _id)
// that brings ScanBatch documents a round trip.
func (s *Store) Scan(ctx context.Context, w flightstore.Window, fn func(*flightstore.Stored) error) error {
	cur, err := s.predictions.Find(ctx, window(w), options.Find().
		SetSort(bson.D{{Key: "StoredAt", Value: 1}, {Key: "_id", Value: 1}}).SetBatchSize(ScanBatch))
	if err != nil {
		return fmt.Errorf("scan stored predictions: %w", err)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var st flightstore.Stored
	for cur.Next(ctx) {
		var d document
		if err := cur.Decode(&d); err != nil {
			return fmt.Errorf("scan stored predictions: %w", err)
		}
		st.Prediction, st.StoredAt = d.prediction(), d.StoredAt.UTC()
		if err := fn(&st); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return fmt.Errorf("scan stored predictions: %w", err)
	}
	return nil
}

// Models implements flightstore.Store with a $match and $group aggregation.
func (s *Store) Models(ctx context.Context, w flightstore.Window) ([]flightstore.ModelCount, error) {
	w.Model = ""
	cur, err := s.predictions.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: window(w)}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$Model"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, fmt.Errorf("count stored predictions by model: %w", err)
	}
	var groups []struct {
		Model string `bson:"_id"`
		N     int64  `bson:"n"`
	}
	if err := cur.All(ctx, &groups); err != nil {
		return nil, fmt.Errorf("count stored predictions by model: %w", err)
	}
	out := make([]flightstore.ModelCount, len(groups))
	for i, g := range groups {
		out[i] = flightstore.ModelCount{Model: g.Model, Count: g.N}
	}
	flightstore.SortModelCounts(out)
	return out, nil
}
