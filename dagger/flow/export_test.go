package flow

import "dagger.io/dagger"

// ApplyCredentials exposes CloudCredentials.apply to the real-engine test.
func ApplyCredentials(c CloudCredentials, ctr *dagger.Container) *dagger.Container {
	return c.apply(ctr)
}
