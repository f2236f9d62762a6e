/*
 * webpage.c: the upload page (src/web/index.html) embedded in the binary
 * with the assembler's .incbin, so ir-serve serves it from memory and a
 * deployment is one file. The path is relative to the top of the tree,
 * where make runs the compiler; the Makefile lists the page as a
 * prerequisite of this object so an edited page is rebuilt in.
 * ir_web_index is NUL-terminated; ir_web_index_len does not count the NUL.
 */
#include "serve.h"

__asm__(
    "	.section .rodata\n"
    "	.global ir_web_index\n"
    "	.type ir_web_index, @object\n"
    "	.balign 16\n"
    "ir_web_index:\n"
    "	.incbin \"src/web/index.html\"\n"
    "1:\n"
    "	.byte 0\n"
    "	.global ir_web_index_len\n"
    "	.type ir_web_index_len, @object\n"
    "	.balign 4\n"
    "ir_web_index_len:\n"
    "	.int 1b - ir_web_index\n"
    "	.previous\n");
