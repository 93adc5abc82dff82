from framescope.cli import main

main()
