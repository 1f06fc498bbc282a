# gnuplot bench/million_chart.gp  ->  docs/img/million.png (data: docs/img/million.dat)
set terminal pngcairo size 1100,460 font ",10" noenhanced
set output "docs/img/million.png"
set datafile missing "-"
set multiplot layout 1,2 title "eddy: one server process, N idle keep-alive connections + 100 active (2-core shared VM)"
set logscale xy
set xrange [5000:2000000]
set xlabel "idle connections N"
set ylabel "server CPU per active request (us)"
set key top right
set grid
set label "kernel fd cap (20,000)" at 21000,1.5 front
set arrow from 20000,1 to 20000,400 nohead dt 2
plot "docs/img/million.dat" u 1:2 w lp lw 2 pt 7 t "ustack, uepoll (epoll)", \
     "" u 1:3 w lp lw 2 pt 5 t "ustack, ue_poll", \
     "" u 1:4 w lp lw 2 pt 6 t "kernel sockets, epoll", \
     "" u 1:5 w lp lw 2 pt 4 t "kernel sockets, poll"
unset logscale y
unset label
unset arrow
set yrange [0:1600]
set key bottom left
set ylabel "server RSS per idle connection (bytes)"
plot "docs/img/million.dat" u 1:6 w lp lw 2 pt 7 t "ustack, uepoll", \
     "" u 1:7 w lp lw 2 pt 5 t "ustack, ue_poll", \
     1536 w l dt 2 t "1.5 KB target"
unset multiplot
