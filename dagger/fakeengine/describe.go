package fakeengine

// Container is what a container's chain set up, in the terms tests assert.
type Container struct {
	From      []string          // from() addresses, in order
	Caches    map[string]string // mount path → cache volume key
	Mounts    map[string]Chain  // mount path → the mounted directory's chain
	Env       map[string]string // withEnvVariable
	SecretEnv map[string]string // withSecretVariable: name → secret ID as sent
	Secrets   map[string]string // withMountedSecret: path → secret ID as sent
	Workdir   string
	Execs     [][]string        // withExec args, in order
	ExecOpts  []map[string]any  // withExec's other arguments, one per Execs entry (nil: none)
	Dirs      map[string]Placed // withDirectory: path → what was copied there
	Files     map[string]Placed // withFile
	Auth      []RegistryAuth    // withRegistryAuth
	Imports   []Import          // import()
	Other     []Call            // every other call, for tests that look further
}

// Placed is what withDirectory or withFile put at a path: the source's
// chain (resolved) and the options.
type Placed struct {
	Source      Chain
	Owner       string
	Permissions int
}

// Import is one import call: the tarball's chain and the tag selected.
type Import struct {
	Source Chain
	Tag    string
}

// RegistryAuth is one withRegistryAuth call; the secret as the ID sent.
type RegistryAuth struct {
	Address, Username, SecretID string
}

// Describe summarises a container chain. Object arguments are resolved
// through the IDs the fake handed out.
func (e *Engine) Describe(chain Chain) Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := Container{
		Caches: map[string]string{}, Mounts: map[string]Chain{},
		Env: map[string]string{}, SecretEnv: map[string]string{}, Secrets: map[string]string{},
		Dirs: map[string]Placed{}, Files: map[string]Placed{},
	}
	str := func(call Call, name string) string { s, _ := call.Args[name].(string); return s }
	for _, call := range chain {
		switch call.Field {
		case "from":
			c.From = append(c.From, str(call, "address"))
		case "withMountedCache":
			key := ""
			for _, v := range e.objects[str(call, "cache")] {
				if v.Field == "cacheVolume" {
					key, _ = v.Args["key"].(string)
				}
			}
			c.Caches[str(call, "path")] = key
		case "withMountedDirectory":
			c.Mounts[str(call, "path")] = e.chainOf(str(call, "source"))
		case "withEnvVariable":
			c.Env[str(call, "name")] = str(call, "value")
		case "withSecretVariable":
			c.SecretEnv[str(call, "name")] = str(call, "secret")
		case "withMountedSecret":
			c.Secrets[str(call, "path")] = str(call, "source")
		case "withWorkdir":
			c.Workdir = str(call, "path")
		case "withExec":
			c.Execs = append(c.Execs, Strings(call.Args["args"]))
			var opts map[string]any
			for k, v := range call.Args {
				if k != "args" {
					if opts == nil {
						opts = map[string]any{}
					}
					opts[k] = v
				}
			}
			c.ExecOpts = append(c.ExecOpts, opts)
		case "withDirectory":
			c.Dirs[str(call, "path")] = e.placed(call)
		case "withFile":
			c.Files[str(call, "path")] = e.placed(call)
		case "withRegistryAuth":
			c.Auth = append(c.Auth, RegistryAuth{str(call, "address"), str(call, "username"), str(call, "secret")})
		case "import":
			c.Imports = append(c.Imports, Import{e.chainOf(str(call, "source")), str(call, "tag")})
		default:
			c.Other = append(c.Other, call)
		}
	}
	return c
}

// placed describes a withDirectory or withFile call. e.mu is held.
func (e *Engine) placed(call Call) Placed {
	var p Placed
	src, _ := call.Args["source"].(string)
	p.Source = e.chainOf(src)
	p.Owner, _ = call.Args["owner"].(string)
	if n, ok := call.Args["permissions"].(int64); ok {
		p.Permissions = int(n)
	}
	return p
}

// Commands lists the commands chain runs, with those of every object it
// takes by ID (a file built in another container, a directory read out of
// one), in order.
func (e *Engine) Commands(chain Chain) [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.execs(chain, map[string]bool{})
}

// chainOf resolves an ID argument; one the fake did not hand out stands for
// itself, as the root of a chain that loads it. e.mu is held.
func (e *Engine) chainOf(id string) Chain {
	if c, ok := e.objects[id]; ok {
		return c
	}
	return Chain{{Field: "id", Args: map[string]any{"id": id}}}
}
