#!/bin/sh
# A wrapper script as `horovodrun -np 2 ./run.sh` runs it on every slot.
exec python horovod_pytorch_synthetic_benchmark.py --model smallnet --batch-size 8 \
    --num-warmup-batches 1 --num-batches-per-iter 2 --num-iters 2
