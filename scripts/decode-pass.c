// One decode pass over SmolLM2-sized packed weights (30 layers of Q4_1 q/k/v/o/gate/up/down, and
// with OUT=1 the 49,152 x 576 Q8_0 output matrix), random values, one token: the matrix kernels'
// read speed alone, on one thread and on two unsynchronised threads. Built and run for several
// M3_DECODE_PREFETCH_BYTES by scripts/prefetch-distance.sh; the argument is the layer count.
// CHUNKS=k splits each matrix of the two-thread pass into 2k chunks, thread h taking chunks h, h+2,
// ... (as a shared claim counter hands them out), or with ADJACENT=1 chunks hk..hk+k-1 (as the
// worker pool's lanes do): how much the order of a thread's reads costs, with no synchronisation.
#include "CKernels.h"
typedef struct {int rows, cols; void *packed; int type;} M;
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdint.h>
#include <pthread.h>
static M *gms; static int gnm; static m3_q8_rows gx; static int giters;
static int gk = 1, gadjacent = 0;
static void* worker(void*a){long h=(long)a; static __thread float y[49152]; for(int it=0;it<giters;it++) for(int i=0;i<gnm;i++){int panels=gms[i].rows/16, n=2*gk; for(int j=0;j<gk;j++){int c=gadjacent?(int)h*gk+j:2*j+(int)h; int r0=panels*c/n*16, r1=panels*(c+1)/n*16; m3_matmul_packed(gms[i].type,gms[i].packed,gms[i].cols/32,r0,r1,gx,1,y,gms[i].rows);}} return 0;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
// SmolLM2 per layer: q 576x576, k 192x576, v 192x576, o 576x576, gate 1536x576, up 1536x576, down 576x1536; 30 layers. output 49152x576 (Q8_0? treat as Q4_1 here)
int main(int argc,char**argv){
  int type = 3; // Q4_1
  int shapes[7][2]={{576,576},{192,576},{192,576},{576,576},{1536,576},{1536,576},{576,1536}};
  M ms[30*7+2]; int nm=0; size_t total=0;
  srand(1);
  int L=argc>1?atoi(argv[1]):30; for(int l=0;l<L;l++) for(int s=0;s<7;s++){ int rows=shapes[s][0], cols=shapes[s][1]; int blocks=cols/32; size_t rb=blocks*20; uint8_t*w=malloc(rb*rows);
    for(size_t i=0;i<rb*rows;i++) w[i]=rand(); for(int r=0;r<rows;r++) for(int b=0;b<blocks;b++){ uint16_t d=0x2000+(rand()&0x3ff), m=0xa000+(rand()&0x3ff); memcpy(w+r*rb+b*20,&d,2); memcpy(w+r*rb+b*20+2,&m,2);}
    size_t pb=m3_packed_bytes(type,rows,blocks); void*p=aligned_alloc(64,(pb+63)/64*64); if(!m3_pack_rows(type,w,rb,rows,blocks,p)){printf("pack fail\n");return 1;} free(w); total+=pb;
    ms[nm++] = (M){rows,cols,p,3}; }
  if(getenv("OUT")){int rows=49152,cols=576,blocks=18; size_t rb=34*blocks; uint8_t*w=malloc(rb*rows); for(size_t i=0;i<rb*rows;i++) w[i]=rand(); for(int r=0;r<rows;r++) for(int b=0;b<blocks;b++){uint16_t d=0x2000+(rand()&0x3ff); memcpy(w+r*rb+b*34,&d,2);} size_t pb=m3_packed_bytes(8,rows,blocks); void*p=aligned_alloc(64,(pb+63)/64*64); if(!m3_pack_rows(8,w,rb,rows,blocks,p)){printf("pack8 fail\n");return 1;} total+=pb; ms[nm++]=(M){rows,cols,p,8};}
  float x[1536]; for(int i=0;i<1536;i++) x[i]=(rand()%2000-1000)/500.0f;
  m3_block_q8 blk[48]; int8_t q[1536]; float d[48], s[48]; int32_t sums[48]; m3_q8_rows xr={q,d,s,sums};
  m3_quantize_q8(x,1536,blk); m3_split_q8(blk,48,xr);
  float *y=malloc(4*49152);
  int iters=200; double best=1e9;
  for(int rep=0;rep<5;rep++){ double t=now(); for(int it=0;it<iters;it++) for(int i=0;i<nm;i++) m3_matmul_packed(ms[i].type,ms[i].packed,ms[i].cols/32,0,ms[i].rows,xr,1,y,ms[i].rows); double e=(now()-t)/iters; if(e<best)best=e; }
  if(getenv("CHUNKS")) gk=atoi(getenv("CHUNKS")); gadjacent=getenv("ADJACENT")!=0; gms=ms;gnm=nm;gx=xr;giters=iters; double best2=1e9; for(int rep=0;rep<5;rep++){pthread_t t[2]; double t0=now(); for(long h=0;h<2;h++)pthread_create(&t[h],0,worker,(void*)h); for(int h=0;h<2;h++)pthread_join(t[h],0); double e=(now()-t0)/iters; if(e<best2)best2=e;}
  printf("two threads unsynchronised: %.3f ms, %.1f GB/s\n", best2*1e3, total/best2/1e9);
  printf("weights %.1f MB, one thread: %.3f ms per token-pass, %.1f GB/s; y[5]=%f\n", total/1e6, best*1e3, total/best/1e9, y[5]);
}
