package mongostore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/datalabhq/datalab/internal/testnet"
)

// TestOpenErrorsHidePasswords: no error of Open repeats the URI or its
// password, whether the URI does not parse, names another database or
// reaches no server (issue 12, finding 3: a parse error printed the raw URI).
func TestOpenErrorsHidePasswords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for _, uri := range []string{
		"mongodb://u:s3cretpw%zz@127.0.0.1:27017/db",          // bad escape
		"mongodb://u:s3cretpw/x@127.0.0.1:27017/db",           // unencoded '/'
		"mongodb://u:s3cretpw@127.0.0.1:27017:1/db",           // bad port
		"mongodb://u:s3cretpw@[::1/db",                        // bad host
		"postgres://u:s3cretpw@127.0.0.1:5432/db",             // not MongoDB
		"mongodb://u:s3cretpw@" + testnet.FreeAddr(t) + "/db", // no server
		"mongodb://u:s3cretpw@h/db?authMechanism=NOPE",        // driver option error
	} {
		_, err := Open(ctx, uri)
		if err == nil {
			t.Errorf("Open(%s): no error", uri)
			continue
		}
		if strings.Contains(err.Error(), "s3cretpw") {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}
