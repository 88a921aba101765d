# bench/chart.gnuplot: the stream chart of docs/benchmarks.md, like the one in go-mmproxy's README: one bar
# per subject, ⇅ Mbps (median over rounds), the value above each bar, ferry's bars in their own colour.
# Called by bench/harness.py report with:
#   gnuplot -e 'datafile="F"; outfile="O.png"; charttitle="..."; subtitle="..."; terminal="pngcairo"' chart.gnuplot
# datafile lines: INDEX "SUBJECT" MBPS IS_FERRY(0|1)

if (terminal eq "pngcairo") {
    set terminal pngcairo size 900,520 enhanced font "DejaVu Sans,11"
} else {
    set terminal png size 900,520
}
set output outfile
set title charttitle."\n{/*0.8 ".subtitle."}"
set ylabel "Mbps, up + down"
set yrange [0:*]
set offsets 0, 0, graph 0.12, 0
set grid ytics lc rgb "#dddddd"
set border 3
set xtics nomirror scale 0
set ytics nomirror
set format y "%.0f"
set boxwidth 0.6
set style fill solid 0.9 border -1
unset key
plot datafile using 1:3:($4 > 0 ? 0x2b7bb9 : 0x9a9a9a):xtic(2) with boxes lc rgb variable, \
     ''       using 1:3:(sprintf("%.0f", $3)) with labels offset 0,0.8 font ",10"
