package sqldb_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/datalabhq/datalab/pipeline/sqldb"
)

// TestDSNForms: every store's connection string goes through one parser,
// which names the database by the DSN's form and refuses what it cannot
// tell apart (issue 12, finding 3: a libpq key=value DSN used to become a
// SQLite file named after the connection string).
func TestDSNForms(t *testing.T) {
	for _, c := range []struct {
		dsn  string
		want sqldb.Dialect
	}{
		{"host=db user=x password=y dbname=z", sqldb.Postgres},
		{"  host=db port=5432 user=x password='a b\\'c' dbname=z sslmode=disable", sqldb.Postgres},
		{"dbname=z", sqldb.Postgres},
		{"postgres://u:p@h:5432/db?sslmode=disable", sqldb.Postgres},
		{"postgresql://u@h1:5432,h2:5432/db", sqldb.Postgres},
		{"mysql://u:p@tcp(h:3306)/db", sqldb.MySQL},
		{"u:p@tcp(h:3306)/db", sqldb.MySQL},
		{"root@unix(/run/mysqld/mysqld.sock)/db", sqldb.MySQL},
		{"mongodb://u:p@127.0.0.1:27017/agile_data_science", sqldb.MongoDB},
		{"mongodb://h1:27017,h2/db?replicaSet=rs0", sqldb.MongoDB},
		{"mongodb+srv://u:p%2Fq@cluster0.example.net/db?retryWrites=true", sqldb.MongoDB},
		{"x.db", sqldb.SQLite},
		{"/var/lib/datalab/predictions.sqlite", sqldb.SQLite},
		{"data/flight-store.db?_pragma=foreign_keys(1)", sqldb.SQLite},
		{"sqlite:///tmp/a b.db", sqldb.SQLite},
		{"file:log.db", sqldb.SQLite},
	} {
		d, err := sqldb.ParseDSN(c.dsn)
		if err != nil || d.Dialect != c.want {
			t.Errorf("ParseDSN(%s) = %s, %v; want %s", sqldb.Redact(c.dsn), d.Dialect, err, c.want)
		}
	}
	for _, c := range []struct{ dsn, wantMsg string }{
		{"", "empty"},
		{"host=db user=x password='unterminated", "quote"},
		{"sslmode=disable", "names no host"},
		{"host=db garbage", "key=value"},
		{"host= password=secretpw user=u", "set apart from '='"},
		{"db user=x password=y", "ambiguous"},
		{"user:secretpw@db/datalab", "ambiguous"},
		{"localhost:5432", "ambiguous"},
		{"a=b.db", "key=value"},
		{"redis://u:secretpw@h/0", "not supported"},
		{"postgres://u:secret/pw@h/db", "percent-encode"},
		{"postgres://u:secret#pw@h/db", "percent-encode"},
		{"mongodb://u:secret/pw@h/db", "percent-encode"},
		{"mongodb://u:%zz@h/db", "percent-encode"},
		{"u:p@tcp(h:3306/db", "MySQL"},
		{"sqlite://", "names no file"},
	} {
		_, err := sqldb.ParseDSN(c.dsn)
		if err == nil {
			t.Errorf("ParseDSN(%q) accepted", c.dsn)
			continue
		}
		if !strings.Contains(err.Error(), c.wantMsg) {
			t.Errorf("ParseDSN(%q) = %v; want a message containing %q", c.dsn, err, c.wantMsg)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseDSN(%q): the error repeats the password: %v", c.dsn, err)
		}
	}
}

// TestRedactNeverReturnsPasswords: whatever the input, Redact's output holds
// no password; what it cannot parse it replaces by a fixed placeholder
// (issue 12, finding 3: an unparsable DSN used to come back unchanged).
func TestRedactNeverReturnsPasswords(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://postgres:postgres@127.0.0.1:5432/datalab_test?sslmode=disable", "postgres://postgres:xxxxx@127.0.0.1:5432/datalab_test?sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db"},
		// An unquoted password with a space reads as two settings; the
		// second is no libpq keyword, and its value is not shown
		// (testdata/fuzz/FuzzRedact/6d757166582f10fe).
		{"host=h password=ab cd=ef sslmode=disable", "host=h password=xxxxx cd=xxxxx sslmode=disable"},
		{"postgres://h/db?user=u&password=p%40ss", "postgres://h/db?password=xxxxx&user=u"},
		{"datalab:datalab@tcp(127.0.0.1:3306)/datalab_test?parseTime=true", "datalab:xxxxx@tcp(127.0.0.1:3306)/datalab_test?parseTime=true"},
		{"mysql://u:p@ss@tcp(h:3306)/db", "mysql://u:xxxxx@tcp(h:3306)/db"},
		{"root@unix(/run/mysqld/mysqld.sock)/db", "root@unix(/run/mysqld/mysqld.sock)/db"},
		{"host=h user=u password='a b' dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"password=secret host=h", "password=xxxxx host=h"},
		{`host=h password='it\'s secret' sslpassword=alsosecret`, "host=h password=xxxxx sslpassword=xxxxx"},
		{"mongodb://u:secret@h:27017/db", "mongodb://u:xxxxx@h:27017/db"},
		{"mongodb+srv://u:se%2Fcret@cluster0.example.net/db?authMechanismProperties=AWS_SESSION_TOKEN:secret", "mongodb+srv://u:xxxxx@cluster0.example.net/db?authMechanismProperties=xxxxx"},
		{"/var/lib/datalab/predictions.sqlite", "/var/lib/datalab/predictions.sqlite"},
		{"sqlite:///tmp/p.db", "sqlite:///tmp/p.db"},
		// Unparsable or ambiguous input: never echoed.
		{"host=h password='secret", sqldb.RedactedDSN},
		{"user:secret@db/datalab", sqldb.RedactedDSN},
		{"postgres://u:secret/x@h/db", sqldb.RedactedDSN},
		{"postgres://u:secret x@h/db", sqldb.RedactedDSN},
		{"redis://u:secret@h/0", sqldb.RedactedDSN},
		{"u:secret@tcp(h:3306/db", sqldb.RedactedDSN},
		{"pg secret", sqldb.RedactedDSN},
	} {
		if got := sqldb.Redact(c.in); got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if _, err := sqldb.DialectOf(sqldb.RedactedDSN); err == nil {
		t.Errorf("the placeholder %q parses as a DSN: a redacted string could be mistaken for a SQLite file", sqldb.RedactedDSN)
	}
}

// Sentinels around every fuzzed password: neither end may show up in a
// redacted DSN or a parser error, which also catches a password cut in two.
const pwHead, pwTail = "Pw7Q", "Qz9W"

// dsnForms builds a DSN of each form from its parts, as users write them:
// percent-encoded where the form requires it, raw where people get it wrong.
var dsnForms = []func(user, pass, host, db string) string{
	func(u, p, h, d string) string { // postgres URL, encoded
		return (&url.URL{Scheme: "postgres", User: url.UserPassword(u, p), Host: h, Path: "/" + d}).String()
	},
	func(u, p, h, d string) string { return "postgres://" + u + ":" + p + "@" + h + "/" + d }, // raw
	func(u, p, h, d string) string { // libpq key=value, quoted
		return "host=" + kvQuote(h) + " user=" + kvQuote(u) + " password=" + kvQuote(p) + " dbname=" + kvQuote(d)
	},
	func(u, p, h, d string) string { return "host=" + h + " password=" + p + " user=" + u }, // unquoted
	func(u, p, h, d string) string { return u + ":" + p + "@tcp(" + h + ")/" + d },          // go-sql-driver
	func(u, p, h, d string) string { return "mysql://" + u + ":" + p + "@tcp(" + h + ")/" + d },
	func(u, p, h, d string) string {
		return (&url.URL{Scheme: "mongodb", User: url.UserPassword(u, p), Host: h, Path: "/" + d}).String()
	},
	func(u, p, h, d string) string { return "mongodb+srv://" + u + ":" + p + "@" + h + "/" + d },
	func(u, p, h, d string) string { return "postgres://" + h + "/" + d + "?password=" + url.QueryEscape(p) },
	func(u, p, h, d string) string { return u + " " + p + " " + h }, // junk
}

// kvQuote quotes a libpq key=value value.
func kvQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// FuzzRedact: the password of a DSN built from fuzzed parts never appears
// in Redact's output nor in the parser's error, in any DSN form.
func FuzzRedact(f *testing.F) {
	f.Add(uint8(0), "postgres", "postgres", "127.0.0.1:5432", "datalab_test")
	f.Add(uint8(1), "u", "a/b#c", "h", "db")
	f.Add(uint8(2), "u", "it's a b", "h", "d")
	f.Add(uint8(4), "datalab", "p@ss:w/rd", "127.0.0.1:3306", "datalab_test")
	f.Add(uint8(7), "u", "x%zz", "cluster0.example.net", "db")
	f.Add(uint8(9), "pg", "s3cret", "db", "")
	f.Fuzz(func(t *testing.T, form uint8, user, pass, host, db string) {
		for _, s := range []string{user, host, db} {
			if strings.Contains(s, pwHead) || strings.Contains(s, pwTail) {
				t.Skip("the sentinels must appear only in the password")
			}
		}
		pass = pwHead + pass + pwTail
		i := int(form) % len(dsnForms)
		if i == len(dsnForms)-1 && strings.TrimSpace(user) == "" && strings.TrimSpace(host) == "" {
			// The junk form with nothing around the "password" is a single
			// word: a valid bare SQLite file name, which Redact rightly
			// keeps (a file name is not a secret). Regression input
			// testdata/fuzz/FuzzRedact/c9085d88aee9192f.
			t.Skip("a bare file name, not a DSN with a password")
		}
		dsn := dsnForms[i](user, pass, host, db)
		leaks := func(s string) bool { return strings.Contains(s, pwHead) || strings.Contains(s, pwTail) }
		if out := sqldb.Redact(dsn); leaks(out) {
			t.Errorf("Redact(%q) = %q: the password shows", dsn, out)
		}
		if _, err := sqldb.DialectOf(dsn); err != nil && leaks(err.Error()) {
			t.Errorf("DialectOf(%q): the error shows the password: %v", dsn, err)
		}
	})
}

// FuzzParseDSN: the parser never panics, never echoes the input in an
// error, and its redacted form is stable: Redact is idempotent, and a
// redacted DSN names the same database (or, when hidden, none at all).
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{
		"postgres://u:Pw7Qsecret@h:5432/db?sslmode=disable", "host=h user=u password='Pw7Q x' dbname=d",
		"u:Pw7Q@tcp(h:3306)/db?parseTime=true", "mongodb+srv://u:Pw7Q%2F@c.example.net/db",
		"x.db", "sqlite:///tmp/x.db", "file:x.db?mode=ro", "a=b", "user:Pw7Q@host/db", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := sqldb.ParseDSN(s)
		red := sqldb.Redact(s)
		if again := sqldb.Redact(red); again != red {
			t.Errorf("Redact(Redact(%q)) = %q, want %q", s, again, red)
		}
		if err != nil {
			if red != sqldb.RedactedDSN {
				t.Errorf("Redact(%q) = %q for a DSN the parser refuses, want the placeholder", s, red)
			}
			if strings.Contains(s, pwHead) && strings.Contains(err.Error(), s) {
				t.Errorf("ParseDSN(%q): the error echoes the input: %v", s, err)
			}
			return
		}
		rd, rerr := sqldb.ParseDSN(red)
		if rerr != nil || rd.Dialect != d.Dialect {
			t.Errorf("ParseDSN(Redact(%q) = %q) = %s, %v; want %s", s, red, rd.Dialect, rerr, d.Dialect)
		}
		if d.String() != red {
			t.Errorf("ParseDSN(%q).String() = %q, Redact = %q", s, d.String(), red)
		}
	})
}

// TestDialectOf: the SQL databases by DSN form; no DSN and a MongoDB URI
// name none.
func TestDialectOf(t *testing.T) {
	for dsn, want := range map[string]sqldb.Dialect{
		"x.db": sqldb.SQLite, "postgres://u:p@h/db": sqldb.Postgres,
		"mysql://u:p@tcp(h:3306)/db": sqldb.MySQL, "u:p@tcp(h:3306)/db": sqldb.MySQL,
	} {
		if d, err := sqldb.DialectOf(dsn); err != nil || d != want {
			t.Errorf("DialectOf(%s) = %s, %v; want %s", dsn, d, err, want)
		}
	}
	for _, dsn := range []string{"", "mongodb://127.0.0.1"} {
		if _, err := sqldb.DialectOf(dsn); err == nil {
			t.Errorf("DialectOf(%q) accepted", dsn)
		}
	}
}
