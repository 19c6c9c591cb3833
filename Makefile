# Shortcuts for tools/dev.sh, which does the work (and sets everything up first).
.PHONY: setup demo test bench lab
setup:
	bash tools/dev.sh setup
demo:
	bash tools/dev.sh demo
test:
	bash tools/dev.sh test
bench:
	bash tools/dev.sh bench $(ARGS)
lab:
	bash tools/dev.sh lab
