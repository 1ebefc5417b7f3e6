// A Maven repository directory served over HTTP/1.1 (keep-alive), as a process of its own.
//
//	maven-server ROOT PORT
//
// The benchmarks' stand-in for a real repository (Nexus, Artifactory), which runs elsewhere:
// on a two-core machine every CPU second it takes is one the measured processes lose, and
// Go's file server costs a tenth of what a Python one does per request.
package main

import (
	"log"
	"net/http"
	"os"
)

// Repositories are served under a path, as real ones are (tests/support/maven_repo.py).
const repositoryPath = "/maven2"

func main() {
	if len(os.Args) != 3 {
		log.Fatalf("usage: %s ROOT PORT", os.Args[0])
	}
	root, port := os.Args[1], os.Args[2]
	files := http.StripPrefix(repositoryPath, http.FileServer(http.Dir(root)))
	http.Handle(repositoryPath+"/", files)
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}
