package main

import "testing"

func TestPatch(t *testing.T) {
	src := "func f() {\n  ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n  lib.Atg(ptr)\n}\n" +
		"func g() {\n\tp := (*lib.Ctensor)(unsafe.Pointer(C.malloc(0)))\n\tdefer C.free(unsafe.Pointer(p))\n}\n"
	want := "func f() {\n  ptr := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64))) // patched by vectorfit-harness: was malloc(0), never freed\n" +
		"  defer C.free(unsafe.Pointer(ptr))\n  lib.Atg(ptr)\n}\n" +
		"func g() {\n\tp := (*lib.Ctensor)(unsafe.Pointer(C.malloc(64))) // patched by vectorfit-harness: was malloc(0), never freed\n" +
		"\tdefer C.free(unsafe.Pointer(p))\n}\n"
	got, n := patch(src)
	if got != want || n != 2 {
		t.Errorf("patch (%d changes):\n%s\nwant:\n%s", n, got, want)
	}
	again, n := patch(got)
	if again != got || n != 0 {
		t.Errorf("second patch changed %d lines", n)
	}
}
