/* placeholder while this module is written */
int main(void) { return 0; }
