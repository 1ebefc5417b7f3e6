module deployunits.io/bench/mavenserver

go 1.25
