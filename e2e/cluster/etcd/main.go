// Command etcd is etcd's server built from its published module: the module's
// own go.mod carries replace lines, so `go install` of it cannot work, while a
// dependency's replaces are ignored.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
