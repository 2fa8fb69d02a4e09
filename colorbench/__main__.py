from colorbench.cli import main

main()
