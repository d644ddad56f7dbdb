module tendril/bench/peers/go

go 1.19
