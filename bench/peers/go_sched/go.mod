module tendril/bench/peers/go_sched

go 1.19
